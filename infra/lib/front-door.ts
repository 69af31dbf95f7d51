import { CfnParameter, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpAlbIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CONTAINER_PORT, FrontDoor } from './config';
import { Identity } from './identity';
import { acknowledge } from './nag';

/** What the balancer and ECS ask: the process serves HTTP. Never a path
 * that reads DynamoDB, or a DynamoDB brownout turns every target unhealthy
 * and ECS replaces them all (`/health/ready` still reports the engine). */
export const TARGET_HEALTH_PATH = '/health/live';

/** The HTTP API stage's throttle. A token bucket: `burst` is its size and
 * `rate` its refill per second, so a burst below the rate could never be
 * spent at the full rate ("Throttle requests to your HTTP APIs"). Both stay
 * within the account's default quota of 10,000 requests per second and a
 * burst of 5,000 per Region. */
export const STAGE_THROTTLE = { rateLimit: 2500, burstLimit: 5000 };

/** Per-route throttles within the stage's ("Throttle requests to your HTTP
 * APIs": route limits apply per route key, the stage's to the rest), so one
 * flooded route (sign-ups from a script, placements from a runaway client)
 * cannot spend the whole stage's budget. HTTP APIs throttle per route, not
 * per caller, and take no WAF: the service's own limits are per caller.
 * Registration is rare (100 a second is 8.6 million sign-ups a day);
 * placements get 40 % of the stage. A path with a trailing slash is no
 * route of these (a route path cannot end in one): it meets the stage's
 * limit. */
export const ROUTE_THROTTLES: Record<string, { rateLimit: number; burstLimit: number }> = {
  'POST /add_user': { rateLimit: 100, burstLimit: 200 },
  'POST /add-user': { rateLimit: 100, burstLimit: 200 },
  'POST /orders': { rateLimit: 1000, burstLimit: 2000 },
};

const ACCESS_LOG_PREFIX = 'alb';

export interface FrontDoorProps {
  readonly kind: FrontDoor;
  readonly vpc: ec2.IVpc;
  readonly service: ecs.FargateService;
  readonly identity: Identity;
}

/** How clients reach the tasks: an internal ALB behind an HTTP API (with a
 * VPC link of its own), or an internet-facing ALB that speaks HTTPS. */
export class FrontDoorConstruct extends Construct {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly targets: elbv2.ApplicationTargetGroup;
  readonly api?: apigw.HttpApi;
  readonly endpoint: string;

  constructor(scope: Construct, id: string, props: FrontDoorProps) {
    super(scope, id);
    const internal = props.kind === 'http-api';
    const albSecurityGroup = new ec2.SecurityGroup(this, 'AlbSecurityGroup', {
      vpc: props.vpc,
      allowAllOutbound: false,
      description: internal ? 'Internal ALB: reachable from the VPC link only' : 'Public ALB',
    });
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc: props.vpc,
      internetFacing: !internal,
      securityGroup: albSecurityGroup,
      vpcSubnets: { subnetType: internal ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC },
      dropInvalidHeaderFields: true,
    });
    logAccessLogs(this, this.loadBalancer);

    const listener = internal
      ? this.loadBalancer.addListener('Http', { port: 80, open: false })
      : httpsListener(this, this.loadBalancer, albSecurityGroup);
    this.targets = listener.addTargets('Service', {
      port: CONTAINER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [props.service],
      healthCheck: {
        path: TARGET_HEALTH_PATH,
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      // The service drains its own connections on SIGTERM; no need to wait 5 minutes.
      deregistrationDelay: Duration.seconds(15),
    });

    // No trailing slash: clients append `/add_user`, not `add_user`.
    if (internal) {
      const { api } = httpApi(this, props, listener, albSecurityGroup);
      this.api = api;
      this.endpoint = api.apiEndpoint;
    } else {
      this.endpoint = `https://${this.loadBalancer.loadBalancerDnsName}`;
    }
  }
}

/** HTTPS on 443 with the certificate from the `CertificateArn` parameter,
 * and port 80 only to redirect there: bearer tokens never cross the
 * internet in cleartext. */
function httpsListener(scope: Construct, alb: elbv2.ApplicationLoadBalancer, securityGroup: ec2.SecurityGroup) {
  const certificate = new CfnParameter(Stack.of(scope), 'CertificateArn', {
    type: 'String',
    allowedPattern: '^arn:aws[a-z-]*:acm:[a-z0-9-]+:\\d{12}:certificate/.+$',
    description: 'ACM certificate for the public ALB, in the stack\'s region',
  });
  // Reached by the listener rules below; `open: false` keeps CDK from adding its own.
  securityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'Clients (HTTPS)');
  securityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'Clients (redirected to HTTPS)');
  acknowledge(securityGroup, 'EC23', 'The public-alb front door is internet-facing by choice; the default front door is an internal ALB.');
  alb.addRedirect({ sourcePort: 80, targetPort: 443, open: false });
  return alb.addListener('Https', {
    port: 443,
    open: false,
    certificates: [elbv2.ListenerCertificate.fromArn(certificate.valueAsString)],
    sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
  });
}

function httpApi(
  scope: Construct,
  props: FrontDoorProps,
  listener: elbv2.ApplicationListener,
  albSecurityGroup: ec2.SecurityGroup,
): { api: apigw.HttpApi; stage: apigw.HttpStage } {
  // The VPC link's own group: the ALB admits it and nothing else.
  const linkSecurityGroup = new ec2.SecurityGroup(scope, 'VpcLinkSecurityGroup', {
    vpc: props.vpc,
    allowAllOutbound: false,
    description: 'HTTP API VPC link: to the internal ALB only',
  });
  linkSecurityGroup.addEgressRule(albSecurityGroup, ec2.Port.tcp(80), 'To the internal ALB');
  albSecurityGroup.addIngressRule(linkSecurityGroup, ec2.Port.tcp(80), 'From the VPC link');
  const vpcLink = new apigw.VpcLink(scope, 'VpcLink', {
    vpc: props.vpc,
    subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    securityGroups: [linkSecurityGroup],
  });
  const integration = new HttpAlbIntegration('Alb', listener, { vpcLink });
  const apiLogs = new logs.LogGroup(scope, 'ApiAccessLogs', {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  // A first line: the gateway turns away requests without a valid pool
  // token before they reach the VPC. The service verifies them again.
  const api = new apigw.HttpApi(scope, 'HttpApi', {
    description: 'ecommerce-service',
    createDefaultStage: false,
    defaultIntegration: integration,
    defaultAuthorizer: new HttpJwtAuthorizer('Cognito', props.identity.issuer, {
      jwtAudience: [props.identity.client.userPoolClientId],
    }),
  });
  // Liveness and the API docs stay public. Readiness reads DynamoDB, so it
  // is no public route: it takes a token like the API (the balancer and the
  // container's health check ask /health/live, inside the VPC).
  for (const routePath of ['/', '/health/live', '/swagger-ui', '/swagger-ui/{proxy+}', '/api-docs/{proxy+}']) {
    api.addRoutes({
      path: routePath,
      methods: [apigw.HttpMethod.GET],
      integration,
      authorizer: new apigw.HttpNoneAuthorizer(),
    });
  }
  // The throttled routes exist as routes of their own (with the default
  // JWT authorizer), so their route keys can carry limits.
  const throttled = Object.keys(ROUTE_THROTTLES).flatMap((key) => {
    const [method, path] = key.split(' ');
    return api.addRoutes({ path, methods: [method as apigw.HttpMethod], integration });
  });
  const stage = api.addStage('PublicStage', {
    stageName: '$default',
    autoDeploy: true,
    accessLogSettings: { destination: new apigw.LogGroupLogDestination(apiLogs) },
    throttle: STAGE_THROTTLE,
  });
  const cfnStage = stage.node.defaultChild as apigw.CfnStage;
  // RouteSettings is free-form JSON to CDK: written as CloudFormation spells it.
  cfnStage.routeSettings = Object.fromEntries(Object.entries(ROUTE_THROTTLES).map(([key, limits]) => [
    key, { ThrottlingRateLimit: limits.rateLimit, ThrottlingBurstLimit: limits.burstLimit },
  ]));
  // A route key's settings need the route to exist first.
  for (const route of throttled) stage.node.addDependency(route);
  acknowledge(api, 'APIG4', 'Every users and orders route has the Cognito JWT authorizer; only GET on /, /health/live, /swagger-ui and /api-docs is public by design.');
  return { api, stage };
}

/**
 * Access logs to a bucket of their own. The bucket policy names the
 * `logdelivery.elasticloadbalancing.amazonaws.com` service principal, which
 * works in every Region ("Enable access logs for your Application Load
 * Balancer", step 2), rather than the per-Region Elastic Load Balancing
 * account that CDK's `logAccessLogs` needs a fixed Region to look up.
 */
function logAccessLogs(scope: Construct, alb: elbv2.ApplicationLoadBalancer) {
  const bucket = new s3.Bucket(scope, 'AccessLogs', {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [{ expiration: Duration.days(90) }],
    removalPolicy: RemovalPolicy.RETAIN,
  });
  acknowledge(bucket, 'S1', 'This bucket receives the load balancer access logs; logging it into itself would loop.');
  const account = Stack.of(scope).account;
  bucket.addToResourcePolicy(new iam.PolicyStatement({
    actions: ['s3:PutObject'],
    principals: [new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com')],
    resources: [bucket.arnForObjects(`${ACCESS_LOG_PREFIX}/AWSLogs/${account}/*`)],
  }));
  alb.setAttribute('access_logs.s3.enabled', 'true');
  alb.setAttribute('access_logs.s3.bucket', bucket.bucketName);
  alb.setAttribute('access_logs.s3.prefix', ACCESS_LOG_PREFIX);
  // The balancer checks that it may write when the attribute is set.
  const policy = bucket.policy?.node.defaultChild;
  if (policy) alb.node.addDependency(policy);
}
