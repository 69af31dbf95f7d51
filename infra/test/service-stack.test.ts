import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Template, Match } from 'aws-cdk-lib/assertions';
import { buildApp, PIPELINE_STACK, SERVICE_STACK } from '../lib/app';
import { ORDER_CHANGE_FILTER } from '../lib/notifications';

// Synthesized once, with cdk-nag: a failing rule fails the whole file.
const assembly = buildApp({ imageSource: 'parameter' }).synth();
const service = Template.fromJSON(assembly.getStackByName(SERVICE_STACK).template);
const pipeline = Template.fromJSON(assembly.getStackByName(PIPELINE_STACK).template);

/** Names src/config.rs reads today, plus the notification settings the consumer reads. */
const TASK_ENVIRONMENT = [
  'STORE', 'TABLE_NAME', 'NOTIFICATIONS_SOURCE', 'NOTIFICATIONS_QUEUE_URL', 'ORDER_TOPIC_ARN',
  'EVENT_BUS_NAME', 'LOG_FORMAT', 'PORT', 'SHUTDOWN_TIMEOUT', 'AUTH_MODE', 'AUTH_ISSUER', 'AUTH_AUDIENCE',
  'METRICS', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SERVICE_NAME', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG',
];

test('the table has the single-table keys, GSI1, a stream and PITR, and is kept on delete', () => {
  service.hasResource('AWS::DynamoDB::Table', {
    DeletionPolicy: 'Retain',
    Properties: Match.objectLike({
      KeySchema: [
        { AttributeName: 'PK', KeyType: 'HASH' },
        { AttributeName: 'SK', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      TimeToLiveSpecification: { AttributeName: 'ExpiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        Match.objectLike({
          IndexName: 'GSI1',
          KeySchema: [
            { AttributeName: 'GSI1PK', KeyType: 'HASH' },
            { AttributeName: 'GSI1SK', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        }),
      ],
    }),
  });
});

test('the Pipe reads the table stream, keeps order inserts and modifies, and feeds the queue', () => {
  const pipes = service.findResources('AWS::Pipes::Pipe');
  const [id, pipe] = Object.entries(pipes)[0];
  assert.equal(Object.keys(pipes).length, 1);
  const props = pipe.Properties;
  assert.deepEqual(props.Source, { 'Fn::GetAtt': [logicalId('AWS::DynamoDB::Table'), 'StreamArn'] });
  assert.deepEqual(props.Target, { 'Fn::GetAtt': [queueId('NotificationsQueue'), 'Arn'] });
  const pattern = JSON.parse(props.SourceParameters.FilterCriteria.Filters[0].Pattern);
  assert.deepEqual(pattern, ORDER_CHANGE_FILTER);
  assert.deepEqual(pattern.eventName, ['INSERT', 'MODIFY']);
  assert.deepEqual(pattern.dynamodb.Keys.SK.S, [{ prefix: '#ORDER#' }]);
  assert.ok(props.SourceParameters.DynamoDBStreamParameters.DeadLetterConfig.Arn);
  // Created only after its role's policy exists.
  const dependsOn: string[] = pipe.DependsOn ?? [];
  assert.ok(dependsOn.some((dep) => dep.startsWith('NotificationsPipeRoleDefaultPolicy')), `${id} depends on ${dependsOn}`);
});

test('the notifications queue redrives to its DLQ after 5 receives', () => {
  service.hasResourceProperties('AWS::SQS::Queue', {
    RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
  });
});

test('alarms watch errors, 5xx, latency, dead letters, backlog, the Pipe and throttling', () => {
  const alarms = Object.values(service.findResources('AWS::CloudWatch::Alarm'));
  const metrics = alarms.map((alarm) => alarm.Properties.MetricName ?? 'expression');
  for (const metric of ['ErrorLogLines', 'HTTPCode_Target_5XX_Count', 'HTTPCode_ELB_5XX_Count', 'TargetResponseTime',
    'ApproximateNumberOfMessagesVisible', 'ApproximateAgeOfOldestMessage', 'ExecutionFailed', 'expression']) {
    assert.ok(metrics.includes(metric), `an alarm on ${metric}`);
  }
  for (const alarm of alarms) {
    assert.equal(alarm.Properties.AlarmActions.length, 1, 'every alarm notifies the monitoring topic');
  }
  service.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ $.level = "ERROR" }' });
  service.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
});

test('the task role has no wildcard actions', () => {
  const taskRole = logicalId('AWS::IAM::Role', (id) => id.startsWith('TaskTaskRole'));
  const policies = Object.values(service.findResources('AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(taskRole));
  assert.equal(policies.length, 1);
  const actions = policies[0].Properties.PolicyDocument.Statement.flatMap((s: { Action: string | string[] }) => [s.Action].flat());
  assert.ok(actions.length > 0);
  for (const action of actions) {
    assert.ok(!action.includes('*'), `no wildcard action: ${action}`);
  }
  for (const needed of ['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem', 'sqs:ReceiveMessage', 'sqs:DeleteMessage',
    'sqs:ChangeMessageVisibility', 'sns:Publish', 'events:PutEvents']) {
    assert.ok(actions.includes(needed), `task role may ${needed}`);
  }
});

test('the task gets the environment the service reads, and outlives its drain time', () => {
  const task = Object.values(service.findResources('AWS::ECS::TaskDefinition'))[0];
  const container = task.Properties.ContainerDefinitions[0];
  const names = container.Environment.map((e: { Name: string }) => e.Name).sort();
  assert.deepEqual(names, [...TASK_ENVIRONMENT].sort());
  const env = Object.fromEntries(container.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
  assert.equal(env.STORE, 'dynamodb');
  assert.equal(env.NOTIFICATIONS_SOURCE, 'sqs');
  assert.equal(env.LOG_FORMAT, 'json');
  assert.ok(container.StopTimeout > Number(env.SHUTDOWN_TIMEOUT));
  assert.equal(task.Properties.RuntimePlatform.CpuArchitecture, 'ARM64');
});

test('the service runs at least 2 tasks with a rollback circuit breaker, behind an HTTP API and internal ALB', () => {
  service.hasResourceProperties('AWS::ECS::Service', {
    DesiredCount: Match.anyValue(),
    DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
  });
  const ecsService = Object.values(service.findResources('AWS::ECS::Service'))[0];
  assert.ok(ecsService.Properties.DesiredCount >= 2);
  service.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal' });
  service.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/health/ready' });
  service.resourceCountIs('AWS::ApiGatewayV2::VpcLink', 1);
  service.hasResourceProperties('AWS::ApiGatewayV2::Stage', { AccessLogSettings: Match.anyValue() });
  service.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 2);
});

test('an ADOT sidecar takes the spans on loopback and the task role may write them to X-Ray', () => {
  const task = Object.values(service.findResources('AWS::ECS::TaskDefinition'))[0];
  const [app, collector] = task.Properties.ContainerDefinitions;
  assert.equal(collector.Name, 'otel-collector');
  assert.equal(collector.Essential, false, 'losing traces must not stop the API');
  assert.match(collector.Image, /aws-otel-collector:v\d+\.\d+\.\d+$/);
  const config = collector.Environment.find((e: { Name: string }) => e.Name === 'AOT_CONFIG_CONTENT').Value;
  assert.match(config, /endpoint: 127\.0\.0\.1:4318/);
  assert.match(config, /exporters: \[awsxray\]/);
  const env = Object.fromEntries(app.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
  assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://127.0.0.1:4318');
  assert.equal(env.METRICS, 'on');
  assert.deepEqual(app.DependsOn, [{ ContainerName: 'otel-collector', Condition: 'START' }]);
  service.hasResourceProperties('AWS::IAM::Policy', {
    PolicyDocument: Match.objectLike({
      Statement: Match.arrayWith([Match.objectLike({
        Action: Match.arrayWith(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']),
      })]),
    }),
  });
});

test('the dashboard graphs the service\'s own EMF metrics by bounded dimensions', () => {
  const dashboard = Object.values(service.findResources('AWS::CloudWatch::Dashboard'))[0];
  // The body is JSON inside a CloudFormation string: drop the escaping.
  const body = JSON.stringify(dashboard.Properties.DashboardBody).replace(/\\/g, '');
  for (const metric of ['Requests', 'Latency', 'StorageLatency', 'StorageErrors', 'NotificationsPublished',
    'NotificationsFailed', 'NotificationLag', 'BatchSize']) {
    assert.ok(body.includes(`MetricName="${metric}"`), `a widget for ${metric}`);
  }
  assert.ok(!/Username|OrderId/.test(body), 'no per-user or per-order dimension');
});

test('the public-alb front door has no API Gateway', () => {
  const app = buildApp({ imageSource: 'parameter', frontDoor: 'public-alb' });
  const template = Template.fromStack(app.node.findChild(SERVICE_STACK) as never);
  template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
});

test('cdk deploy builds the image from the repository Dockerfile, and passes cdk-nag too', () => {
  const outdir = mkdtempSync(path.join(tmpdir(), 'cdk-asset-'));
  buildApp({ outdir }).synth();
  const manifest = JSON.parse(readFileSync(path.join(outdir, `${SERVICE_STACK}.assets.json`), 'utf8'));
  const images = Object.values(manifest.dockerImages) as { source: { dockerFile: string; platform: string } }[];
  assert.equal(images.length, 1);
  assert.equal(images[0].source.dockerFile, 'Dockerfile');
  assert.equal(images[0].source.platform, 'linux/arm64');
});

test('the pipeline tests, builds the image and deploys the committed template', () => {
  const stages = Object.values(pipeline.findResources('AWS::CodePipeline::Pipeline'))[0].Properties.Stages;
  assert.deepEqual(stages.map((s: { Name: string }) => s.Name), ['Source', 'Test', 'Image', 'Deploy']);
  const deploy = stages[3].Actions[0].Configuration;
  assert.equal(deploy.TemplatePath, 'Source::infra/cloudformation/EcommerceService.template.json');
});

function logicalId(type: string, filter: (id: string) => boolean = () => true): string {
  const ids = Object.keys(service.findResources(type)).filter(filter);
  assert.equal(ids.length, 1, `one ${type}`);
  return ids[0];
}

function queueId(prefix: string): string {
  return logicalId('AWS::SQS::Queue', (id) => id.startsWith(prefix) && !id.includes('Dead'));
}

test('a Cognito pool with admin and fulfilment groups; the HTTP API checks its JWTs and the task verifies them too', () => {
  service.resourceCountIs('AWS::Cognito::UserPool', 1);
  for (const group of ['admin', 'fulfilment']) {
    service.hasResourceProperties('AWS::Cognito::UserPoolGroup', { GroupName: group });
  }
  service.hasResourceProperties('AWS::Cognito::UserPoolClient', { GenerateSecret: false });
  service.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
    AuthorizerType: 'JWT',
    JwtConfiguration: Match.objectLike({ Audience: [Match.anyValue()] }),
  });
  const routes = service.findResources('AWS::ApiGatewayV2::Route');
  const open = Object.values(routes)
    .filter((route: any) => (route.Properties.AuthorizationType ?? 'NONE') === 'NONE')
    .map((route: any) => route.Properties.RouteKey)
    .sort();
  assert.deepEqual(open, ['GET /', 'GET /api-docs/{proxy+}', 'GET /health/{proxy+}', 'GET /swagger-ui', 'GET /swagger-ui/{proxy+}']);
  const task = Object.values(service.findResources('AWS::ECS::TaskDefinition'))[0] as any;
  const environment = task.Properties.ContainerDefinitions[0].Environment;
  assert.deepEqual(environment.find((v: any) => v.Name === 'AUTH_MODE'), { Name: 'AUTH_MODE', Value: 'jwt' });
});
