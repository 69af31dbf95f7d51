import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

/** ADOT collector image on ECR Public, pinned: a new version is a reviewed
 * change. Tasks pull it through the account's own registry (below). */
const COLLECTOR_REPOSITORY = 'aws-observability/aws-otel-collector';
const COLLECTOR_TAG = 'v0.39.0';
/** The account's private registry caches ECR Public under this prefix: a
 * task pulls the collector from its own account and Region, and ECR Public
 * is asked only the first time ("Sync an upstream registry with an Amazon
 * ECR private registry"). Unique to this stack: one rule per prefix. */
export const PULL_THROUGH_PREFIX = 'ecommerce-ecr-public';

/**
 * The share of new traces sampled (a caller's sampled `traceparent` is
 * always kept). X-Ray charges $5.00 per million traces recorded beyond the
 * first 100,000 a month: at 1,000 requests/s (2.59 billion a month) a tenth
 * is about $1,300 a month, a hundredth about $130 (README.md, cost).
 */
export const TRACE_SAMPLE_RATIO = 0.01;

/** Where the service sends OTLP/HTTP: the sidecar, inside the task. */
export const OTLP_ENDPOINT = 'http://127.0.0.1:4318';

/** Traces only: metrics leave the service as EMF log lines, logs through
 * the awslogs driver. The receiver listens on loopback, so nothing outside
 * the task can send spans to it. */
const COLLECTOR_CONFIG = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:4318
processors:
  batch:
    timeout: 1s
exporters:
  awsxray: {}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [awsxray]
`;

/** An AWS Distro for OpenTelemetry collector as a sidecar that exports the
 * service's spans to X-Ray, with the task role allowed to write them. */
export class TraceCollector extends Construct {
  readonly container: ecs.ContainerDefinition;

  constructor(scope: Construct, id: string, taskDefinition: ecs.FargateTaskDefinition) {
    super(scope, id);
    const collectorLogs = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stack = Stack.of(this);
    const cache = new ecr.CfnPullThroughCacheRule(this, 'EcrPublicCache', {
      ecrRepositoryPrefix: PULL_THROUGH_PREFIX,
      upstreamRegistryUrl: 'public.ecr.aws',
    });
    const cachedRepository = `${PULL_THROUGH_PREFIX}/${COLLECTOR_REPOSITORY}`;
    // The first pull imports the image and creates its repository; both are
    // the puller's rights ("IAM permissions required to sync an upstream
    // registry"), on this prefix's repositories only.
    const execution = taskDefinition.obtainExecutionRole();
    execution.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchImportUpstreamImage', 'ecr:CreateRepository'],
      resources: [stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: `${PULL_THROUGH_PREFIX}/*` })],
    }));
    execution.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }));
    acknowledge(execution, `IAM5[Resource::arn:<AWS::Partition>:ecr:<AWS::Region>:<AWS::AccountId>:repository/${PULL_THROUGH_PREFIX}/*]`,
      'The pull-through cache creates one repository per upstream image under this stack\'s prefix.');
    const image = `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${cachedRepository}:${COLLECTOR_TAG}`;
    this.container = taskDefinition.addContainer('otel-collector', {
      image: ecs.ContainerImage.fromRegistry(image),
      // Losing traces must not take the API down with it.
      essential: false,
      cpu: 64,
      memoryReservationMiB: 64,
      environment: { AOT_CONFIG_CONTENT: COLLECTOR_CONFIG },
      logging: ecs.LogDrivers.awsLogs({ logGroup: collectorLogs, streamPrefix: 'otel' }),
      readonlyRootFilesystem: true,
    });
    this.container.node.addDependency(cache);
    taskDefinition.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
      resources: ['*'],
    }));
    acknowledge(taskDefinition.taskRole, 'IAM5[Resource::*]',
      'X-Ray trace submission has no resource-level permissions; only the four write actions are granted.');
  }
}
