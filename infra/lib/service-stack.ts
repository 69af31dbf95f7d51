import * as path from 'node:path';
import {
  CfnCondition, CfnOutput, CfnParameter, Duration, Fn, RemovalPolicy, Stack, StackProps,
} from 'aws-cdk-lib';
import { AdjustmentType } from 'aws-cdk-lib/aws-applicationautoscaling';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import {
  CONTAINER_PORT, FrontDoor, ImageSource, SHUTDOWN_TIMEOUT_SECONDS, TARGET_CPU_PERCENT, TASK_CPU_UNITS,
  TASK_MEMORY_MIB, requestsPerTargetPerMinute,
} from './config';
import { FrontDoorConstruct } from './front-door';
import { Identity } from './identity';
import { Monitoring } from './monitoring';
import { Network } from './network';
import { Notifications } from './notifications';
import { OTLP_ENDPOINT, TRACE_SAMPLE_RATIO, TraceCollector } from './tracing';

export interface ServiceStackProps extends StackProps {
  /** How clients reach the service. Default: an HTTP API in front of an internal ALB. */
  readonly frontDoor?: FrontDoor;
  /** Where the image comes from. Default: built from the repository's Dockerfile. */
  readonly imageSource?: ImageSource;
  /** Tasks kept running; at least 2 so one AZ can fail. */
  readonly desiredCount?: number;
  readonly maxCount?: number;
  /** The table to serve instead of a new one: the replaced system's, for a
   * cut-over (README, "Replacing the original deployment"; committed in
   * infra/deployment.json). It must have GSI1 and GSI2, TTL on ExpiresAt
   * and a stream with new and old images (`ecommerce-service preflight`
   * checks); the stack neither creates nor changes it. */
  readonly existingTable?: ExistingTable;
  /** The default of the TableKeyArn parameter (infra/deployment.json). */
  readonly tableKeyArn?: string;
  /** The defaults of the SES parameters (infra/deployment.json). */
  readonly ses?: { identityArn?: string; fromAddress?: string };
}

export interface ExistingTable {
  readonly tableName: string;
  /** The table's stream, which the notification Pipe reads. */
  readonly tableStreamArn: string;
}

const REPOSITORY_ROOT = path.join(__dirname, '..', '..');
/** The DynamoDB calls the service makes (a transaction is authorized per item action). */
const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
  // Only `migrate`, run as a one-off task of this task definition
  // (README, "The work queue"); the service itself never scans.
  'dynamodb:Scan',
  // The start-up check of the table (src/store/dynamodb/preflight.rs), and
  // `preflight` and `migrate`'s progress estimate as one-off tasks.
  'dynamodb:DescribeTable',
  'dynamodb:DescribeTimeToLive',
];
/** What a principal needs of a table's customer managed key to read and
 * write the table: DynamoDB calls KMS on the caller's behalf, with the
 * caller's permissions ("DynamoDB encryption at rest"). The set CDK grants
 * for a read-write grant on an encrypted table, spelled out (no wildcard
 * actions). */
const TABLE_KEY_ACTIONS = [
  'kms:Decrypt', 'kms:Encrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext', 'kms:DescribeKey',
];

export class ServiceStack extends Stack {
  readonly table: dynamodb.ITable;
  readonly service: ecs.FargateService;
  readonly taskDefinition: ecs.FargateTaskDefinition;

  constructor(scope: Construct, id: string, props: ServiceStackProps = {}) {
    super(scope, id, props);
    const desiredCount = Math.max(2, props.desiredCount ?? 2);
    const maxCount = Math.max(desiredCount, props.maxCount ?? 10);

    this.table = props.existingTable
      ? dynamodb.Table.fromTableAttributes(this, 'EcommerceTable', {
        ...props.existingTable,
        globalIndexes: ['GSI1', 'GSI2'],
      })
      : singleTable(this);

    const notifications = new Notifications(this, 'Notifications', {
      table: this.table,
      fromLatest: props.existingTable !== undefined,
    });
    // A stack parameter whose default is the committed deployment's key:
    // the pipeline passes none, so every run keeps what the commit says.
    const tableKeyArn = new CfnParameter(this, 'TableKeyArn', {
      type: 'String',
      default: props.tableKeyArn ?? '',
      allowedPattern: '^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$',
      description: 'The customer managed KMS key the served table is encrypted with (a cut-over onto such a '
        + 'table): the task and Pipe roles are granted its use. Empty for an AWS owned or managed key.',
    });
    const { vpc } = new Network(this, 'Network');
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
      cpu: TASK_CPU_UNITS,
      memoryLimitMiB: TASK_MEMORY_MIB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    const identity = new Identity(this, 'Identity', props.ses);
    this.taskDefinition.addContainer('app', {
      image: containerImage(this, props.imageSource ?? 'asset'),
      essential: true,
      portMappings: [{ containerPort: CONTAINER_PORT }],
      environment: {
        STORE: 'dynamodb',
        TABLE_NAME: this.table.tableName,
        TABLE_KEY_ARN: tableKeyArn.valueAsString,
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
        // New traces at TRACE_SAMPLE_RATIO; a caller's sampling decision is kept.
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: String(TRACE_SAMPLE_RATIO),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: serviceLogs, streamPrefix: 'app' }),
      // `healthcheck` asks /health/live: it never waits on DynamoDB.
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
    // Non-essential and not waited for: the service starts whether or not
    // the collector does (spans it cannot send are dropped).
    new TraceCollector(this, 'Traces', this.taskDefinition);
    acknowledge(this.taskDefinition.obtainExecutionRole(), 'IAM5[Resource::*]',
      'ecr:GetAuthorizationToken has no resource scope; image pulls are limited to the image repository.');
    acknowledge(this.taskDefinition, 'ECS2', 'The environment holds only resource names and switches; the service has no secrets (AWS access comes from the task role).');

    // Least privilege: exactly what the service calls.
    const taskRole = this.taskDefinition.taskRole;
    this.table.grant(taskRole, ...TABLE_ACTIONS);
    notifications.queue.grantConsumeMessages(taskRole);
    notifications.topic.grantPublish(taskRole);
    notifications.bus.grantPutEventsTo(taskRole);
    grantTableKey(this, tableKeyArn.valueAsString, [
      ['TaskTableKey', taskRole, TABLE_KEY_ACTIONS],
      // A stream encrypted with the table's key is read with kms:Decrypt.
      ['PipeTableKey', notifications.role, ['kms:Decrypt']],
    ]);
    const indexes = props.existingTable
      ? `arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/${props.existingTable.tableName}/index/*`
      : '<EcommerceTableE16C9E02.Arn>/index/*';
    acknowledge(taskRole, `IAM5[Resource::${indexes}]`,
      'Queries by order id read GSI1; the wildcard covers only this table\'s own indexes.');

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
    const frontDoor = new FrontDoorConstruct(this, 'FrontDoor', {
      kind: props.frontDoor ?? 'http-api',
      vpc,
      service: this.service,
      identity,
    });

    const scaling = this.service.autoScaleTaskCount({ minCapacity: desiredCount, maxCapacity: maxCount });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: TARGET_CPU_PERCENT });
    scaling.scaleOnRequestCount('Requests', {
      requestsPerTarget: requestsPerTargetPerMinute(),
      targetGroup: frontDoor.targets,
    });
    // A notification backlog is work too: the consumers run in the tasks.
    // It is counted in messages waiting to be read (visible), not by the
    // oldest message's age: while SNS or EventBridge is down, the consumer
    // hides each message it could not publish until its retry, so the age
    // grows but the visible count does not, and no task is added for work
    // nobody can do. One task's consumer publishes about 350 messages a
    // second at the CPU target (0.3 CPU-seconds a second over the 840 us a
    // message cost on moto, connection set-up included: BENCHMARKS.md,
    // "Notifications from a backlog"): a minute of that waiting adds a task,
    // five minutes two. Scale-out only; the CPU and request policies decide
    // when to scale in.
    scaling.scaleOnMetric('NotificationBacklog', {
      metric: notifications.queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      scalingSteps: [
        { upper: 21_000, change: 0 },
        { lower: 21_000, change: +1 },
        { lower: 105_000, change: +2 },
      ],
      adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
      cooldown: Duration.minutes(2),
    });

    const monitoring = new Monitoring(this, 'Monitoring', {
      serviceLogs,
      loadBalancer: frontDoor.loadBalancer,
      targetGroup: frontDoor.targets,
      api: frontDoor.api,
      table: this.table,
      notifications,
      service: this.service,
      minTasks: desiredCount,
    });

    new CfnOutput(this, 'Endpoint', { value: frontDoor.endpoint });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'UserPoolId', { value: identity.userPool.userPoolId });
    new CfnOutput(this, 'UserPoolClientId', { value: identity.client.userPoolClientId });
    new CfnOutput(this, 'OrderTopicArn', { value: notifications.topic.topicArn });
    new CfnOutput(this, 'AlarmTopicArn', { value: monitoring.topic.topicArn });
  }
}

/** Policies on the table's customer managed key, created only when the
 * TableKeyArn parameter names one. */
function grantTableKey(scope: Construct, keyArn: string, grants: [string, iam.IRole, string[]][]): void {
  const hasKey = new CfnCondition(scope, 'HasTableKey', {
    expression: Fn.conditionNot(Fn.conditionEquals(keyArn, '')),
  });
  for (const [id, role, actions] of grants) {
    const policy = new iam.Policy(scope, id, {
      statements: [new iam.PolicyStatement({ actions, resources: [keyArn] })],
    });
    policy.attachToRole(role);
    (policy.node.defaultChild as iam.CfnPolicy).cfnOptions.condition = hasKey;
  }
}

/** The single table, as src/store/keys.rs lays it out. */
function singleTable(scope: Construct): dynamodb.Table {
  const table = new dynamodb.Table(scope, 'EcommerceTable', {
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
  table.addGlobalSecondaryIndex({
    indexName: 'GSI1',
    partitionKey: { name: 'GSI1PK', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'GSI1SK', type: dynamodb.AttributeType.STRING },
    projectionType: dynamodb.ProjectionType.ALL,
  });
  // The status queue (GET /orders?status=): each status over 4 shards,
  // oldest in the status first (src/store/keys.rs, STATUS_SHARDS).
  table.addGlobalSecondaryIndex({
    indexName: 'GSI2',
    partitionKey: { name: 'GSI2PK', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'GSI2SK', type: dynamodb.AttributeType.STRING },
    projectionType: dynamodb.ProjectionType.ALL,
  });
  return table;
}

function containerImage(scope: Construct, source: ImageSource): ecs.ContainerImage {
  if (source === 'parameter') {
    // An ECR repository of the stack's own account and region: the task's
    // execution role is granted the pull (ecr:GetAuthorizationToken,
    // ecr:BatchGetImage, ecr:GetDownloadUrlForLayer; "Amazon ECS task
    // execution IAM role"), which an image given only as a URI would lack.
    const repositoryName = new CfnParameter(scope, 'ImageRepository', {
      type: 'String',
      default: 'ecommerce-service',
      description: 'ECR repository (in this account and region) holding the linux/arm64 image',
    });
    const tag = new CfnParameter(scope, 'ImageTag', {
      type: 'String',
      description: 'The image tag to run, e.g. the commit it was built from',
    });
    const repository = ecr.Repository.fromRepositoryName(scope, 'Images', repositoryName.valueAsString);
    return ecs.ContainerImage.fromEcrRepository(repository, tag.valueAsString);
  }
  return ecs.ContainerImage.fromAsset(REPOSITORY_ROOT, {
    file: 'Dockerfile',
    platform: Platform.LINUX_ARM64,
    exclude: ['target', 'data', '.git', '.venv', 'infra/node_modules', 'infra/cdk.out'],
  });
}
