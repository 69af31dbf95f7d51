import * as path from 'node:path';
import { CfnOutput, CfnParameter, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpAlbIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { CONTAINER_PORT, FrontDoor, ImageSource, SHUTDOWN_TIMEOUT_SECONDS } from './config';
import { Identity } from './identity';
import { Monitoring } from './monitoring';
import { Notifications } from './notifications';
import { OTLP_ENDPOINT, TraceCollector } from './tracing';

export interface ServiceStackProps extends StackProps {
  /** How clients reach the service. Default: an HTTP API in front of an internal ALB. */
  readonly frontDoor?: FrontDoor;
  /** Where the image comes from. Default: built from the repository's Dockerfile. */
  readonly imageSource?: ImageSource;
  /** Tasks kept running; at least 2 so one AZ can fail. */
  readonly desiredCount?: number;
  readonly maxCount?: number;
}

const REPOSITORY_ROOT = path.join(__dirname, '..', '..');
const VPC_CIDR = '10.40.0.0/16';
/** The DynamoDB calls the service makes (a transaction is authorized per item action). */
const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
];

export class ServiceStack extends Stack {
  readonly table: dynamodb.Table;
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;

  constructor(scope: Construct, id: string, props: ServiceStackProps = {}) {
    super(scope, id, props);
    const frontDoor = props.frontDoor ?? 'http-api';
    const desiredCount = Math.max(2, props.desiredCount ?? 2);

    // Data: the single table, as src/store/keys.rs lays it out.
    this.table = new dynamodb.Table(this, 'EcommerceTable', {
      partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'SK', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      // Idempotency records expire after 24 h (ExpiresAt, epoch seconds).
      timeToLiveAttribute: 'ExpiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: 'GSI1',
      partitionKey: { name: 'GSI1PK', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'GSI1SK', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    const notifications = new Notifications(this, 'Notifications', { table: this.table });

    // Network: two AZs, tasks in private subnets, every flow logged.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(VPC_CIDR),
      maxAzs: 2,
      natGateways: 1,
      restrictDefaultSecurityGroup: false,
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'VpcFlowLogs', { retention: logs.RetentionDays.ONE_MONTH }),
          ),
        },
      },
    });
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    // The service.
    const serviceLogs = new logs.LogGroup(this, 'ServiceLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 512,
      memoryLimitMiB: 1024,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    const identity = new Identity(this, 'Identity');
    const app = this.taskDefinition.addContainer('app', {
      image: containerImage(this, props.imageSource ?? 'asset'),
      essential: true,
      portMappings: [{ containerPort: CONTAINER_PORT }],
      environment: {
        STORE: 'dynamodb',
        TABLE_NAME: this.table.tableName,
        NOTIFICATIONS_SOURCE: 'sqs',
        NOTIFICATIONS_QUEUE_URL: notifications.queue.queueUrl,
        ORDER_TOPIC_ARN: notifications.topic.topicArn,
        EVENT_BUS_NAME: notifications.bus.eventBusName,
        LOG_FORMAT: 'json',
        PORT: String(CONTAINER_PORT),
        SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT_SECONDS),
        AUTH_MODE: 'jwt',
        AUTH_ISSUER: identity.issuer,
        AUTH_AUDIENCE: identity.client.userPoolClientId,
        METRICS: 'on',
        OTEL_EXPORTER_OTLP_ENDPOINT: OTLP_ENDPOINT,
        OTEL_SERVICE_NAME: 'ecommerce-service',
        // A tenth of new traces; a caller's sampling decision is kept.
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.1',
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: serviceLogs, streamPrefix: 'app' }),
      healthCheck: {
        command: ['CMD', '/usr/local/bin/ecommerce-service', 'healthcheck'],
        interval: Duration.seconds(10),
        timeout: Duration.seconds(3),
        startPeriod: Duration.seconds(10),
        retries: 3,
      },
      // ECS waits this long after SIGTERM before SIGKILL: above the
      // service's own drain time, so in-flight requests finish.
      stopTimeout: Duration.seconds(SHUTDOWN_TIMEOUT_SECONDS + 10),
      readonlyRootFilesystem: true,
    });
    const collector = new TraceCollector(this, 'Traces', this.taskDefinition);
    app.addContainerDependencies({ container: collector.container, condition: ecs.ContainerDependencyCondition.START });
    acknowledge(this.taskDefinition.obtainExecutionRole(), 'IAM5[Resource::*]',
      'ecr:GetAuthorizationToken has no resource scope; image pulls are limited to the image repository.');
    acknowledge(this.taskDefinition, 'ECS2', 'The environment holds only resource names and switches; the service has no secrets (AWS access comes from the task role).');

    // Least privilege: exactly what the service calls.
    const taskRole = this.taskDefinition.taskRole;
    this.table.grant(taskRole, ...TABLE_ACTIONS);
    notifications.queue.grantConsumeMessages(taskRole);
    notifications.topic.grantPublish(taskRole);
    notifications.bus.grantPutEventsTo(taskRole);
    acknowledge(taskRole, 'IAM5[Resource::<EcommerceTableE16C9E02.Arn>/index/*]',
      'Queries by order id read GSI1; the wildcard covers only this table\'s own indexes.');

    // Front door: an ALB, internal behind an HTTP API by default.
    const internal = frontDoor === 'http-api';
    const albSecurityGroup = new ec2.SecurityGroup(this, 'AlbSecurityGroup', {
      vpc,
      allowAllOutbound: false,
      description: internal ? 'Internal ALB: reachable from inside the VPC only' : 'Public ALB',
    });
    if (internal) {
      albSecurityGroup.addIngressRule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(80), 'VPC link');
    } else {
      albSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'Clients');
      acknowledge(albSecurityGroup, 'EC23', 'The public-alb front door is internet-facing by choice; the default front door is an internal ALB.');
    }
    const alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: !internal,
      securityGroup: albSecurityGroup,
      vpcSubnets: { subnetType: internal ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC },
      dropInvalidHeaderFields: true,
    });
    alb.logAccessLogs(accessLogBucket(this));
    const listener = alb.addListener('Http', { port: 80, open: false });

    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition: this.taskDefinition,
      desiredCount,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
    });
    const targets = listener.addTargets('Service', {
      port: CONTAINER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [this.service],
      healthCheck: {
        path: '/health/ready',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
      // The service drains its own connections on SIGTERM; no need to wait 5 minutes.
      deregistrationDelay: Duration.seconds(15),
    });
    albSecurityGroup.addEgressRule(
      ec2.Peer.ipv4(VPC_CIDR),
      ec2.Port.tcp(CONTAINER_PORT),
      'To the tasks',
    );

    const scaling = this.service.autoScaleTaskCount({
      minCapacity: desiredCount,
      maxCapacity: Math.max(desiredCount, props.maxCount ?? 10),
    });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: 60 });
    scaling.scaleOnRequestCount('Requests', { requestsPerTarget: 1000, targetGroup: targets });

    let endpoint: string;
    if (internal) {
      const apiLogs = new logs.LogGroup(this, 'ApiAccessLogs', { retention: logs.RetentionDays.ONE_MONTH });
      const integration = new HttpAlbIntegration('Alb', listener);
      // A first line: the gateway turns away requests without a valid pool
      // token before they reach the VPC. The service verifies them again.
      const api = new apigw.HttpApi(this, 'HttpApi', {
        description: 'ecommerce-service',
        createDefaultStage: false,
        defaultIntegration: integration,
        defaultAuthorizer: new HttpJwtAuthorizer('Cognito', identity.issuer, {
          jwtAudience: [identity.client.userPoolClientId],
        }),
      });
      // Probes and the API docs stay public, as in the service itself.
      for (const routePath of ['/', '/health/{proxy+}', '/swagger-ui', '/swagger-ui/{proxy+}', '/api-docs/{proxy+}']) {
        api.addRoutes({
          path: routePath,
          methods: [apigw.HttpMethod.GET],
          integration,
          authorizer: new apigw.HttpNoneAuthorizer(),
        });
      }
      const stage = api.addStage('PublicStage', {
        stageName: '$default',
        autoDeploy: true,
        accessLogSettings: { destination: new apigw.LogGroupLogDestination(apiLogs) },
        throttle: { rateLimit: 2000, burstLimit: 1000 },
      });
      acknowledge(api, 'APIG4', 'Every users and orders route has the Cognito JWT authorizer; only GET on /, /health/*, /swagger-ui and /api-docs is public by design.');
      endpoint = stage.url;
    } else {
      endpoint = `http://${alb.loadBalancerDnsName}/`;
    }

    new Monitoring(this, 'Monitoring', {
      serviceLogs,
      loadBalancer: alb,
      targetGroup: targets,
      table: this.table,
      notifications,
      service: this.service,
    });

    new CfnOutput(this, 'Endpoint', { value: endpoint });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'UserPoolId', { value: identity.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: identity.client.userPoolClientId });
    new CfnOutput(this, 'OrderTopicArn', { value: notifications.topic.topicArn });
  }
}

function containerImage(scope: Construct, source: ImageSource): ecs.ContainerImage {
  if (source === 'parameter') {
    const uri = new CfnParameter(scope, 'ImageUri', {
      type: 'String',
      description: 'The ecommerce-service image (linux/arm64), e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/ecommerce-service:<tag>',
    });
    return ecs.ContainerImage.fromRegistry(uri.valueAsString);
  }
  return ecs.ContainerImage.fromAsset(REPOSITORY_ROOT, {
    file: 'Dockerfile',
    platform: Platform.LINUX_ARM64,
    exclude: ['target', 'data', '.git', '.venv', 'infra/node_modules', 'infra/cdk.out'],
  });
}

function accessLogBucket(scope: Construct): s3.Bucket {
  const bucket = new s3.Bucket(scope, 'AccessLogs', {
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    lifecycleRules: [{ expiration: Duration.days(90) }],
    removalPolicy: RemovalPolicy.RETAIN,
  });
  acknowledge(bucket, 'S1', 'This bucket receives the load balancer access logs; logging it into itself would loop.');
  return bucket;
}
