import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Template, Match } from 'aws-cdk-lib/assertions';
import { buildApp, SERVICE_STACK } from '../lib/app';
import { ROUTE_THROTTLES, STAGE_THROTTLE, TARGET_HEALTH_PATH } from '../lib/front-door';
import { AVAILABILITY_ZONES } from '../lib/network';
import { ORDER_CHANGE_FILTER } from '../lib/notifications';
import { TEST_IMAGE } from '../lib/pipeline-stack';
import { Json, only, render, resources, synth, template } from './synth';

// Synthesized once, with cdk-nag: a failing rule fails the whole file.
const synthesized = synth();
const service = Template.fromJSON(synthesized.service);
const pipeline = Template.fromJSON(synthesized.pipeline);

/** Names src/config.rs reads today, plus the notification settings the consumer reads. */
const TASK_ENVIRONMENT = [
  'STORE', 'TABLE_NAME', 'TABLE_KEY_ARN', 'NOTIFICATIONS_SOURCE', 'NOTIFICATIONS_QUEUE_URL', 'ORDER_TOPIC_ARN',
  'EVENT_BUS_NAME', 'LOG_FORMAT', 'PORT', 'SHUTDOWN_TIMEOUT', 'AUTH_MODE', 'AUTH_ISSUER', 'AUTH_AUDIENCE',
  'METRICS', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_SERVICE_NAME', 'OTEL_TRACES_SAMPLER', 'OTEL_TRACES_SAMPLER_ARG',
];

test('the table has the single-table keys, GSI1, the status queue GSI2, a stream and PITR, and is kept on delete', () => {
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
        Match.objectLike({
          IndexName: 'GSI2',
          KeySchema: [
            { AttributeName: 'GSI2PK', KeyType: 'HASH' },
            { AttributeName: 'GSI2SK', KeyType: 'RANGE' },
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

test('alarms watch errors, 5xx, latency, targets, tasks, dead letters, backlog, the Pipe and throttling', () => {
  const alarms = Object.values(service.findResources('AWS::CloudWatch::Alarm'));
  const metrics = alarms.map((alarm) => alarm.Properties.MetricName ?? 'expression');
  for (const metric of ['ErrorLogLines', 'HTTPCode_Target_5XX_Count', 'HTTPCode_ELB_5XX_Count', '5xx', 'TargetResponseTime',
    'UnHealthyHostCount', 'RunningTaskCount', 'ApproximateNumberOfMessagesVisible', 'ApproximateAgeOfOldestMessage',
    'ExecutionFailed']) {
    assert.ok(metrics.includes(metric), `an alarm on ${metric}`);
  }
  for (const alarm of alarms) {
    assert.equal(alarm.Properties.AlarmActions.length, 1, 'every alarm notifies the monitoring topic');
  }
  service.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: '{ $.level = "ERROR" }' });
  service.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
});

test('throttling alarms read the table\'s, GSI1\'s and GSI2\'s read and write throttle events', () => {
  const throttleAlarm = (index?: string) => Object.values(service.findResources('AWS::CloudWatch::Alarm')).filter((alarm) => {
    const stats = (alarm.Properties.Metrics ?? []).map((m: Json) => m.MetricStat).filter(Boolean);
    const names = stats.map((stat: Json) => stat.Metric.MetricName).sort();
    const dimensions = stats.map((stat: Json) => stat.Metric.Dimensions.map((d: Json) => d.Name).sort().join(','));
    const wanted = index ? 'GlobalSecondaryIndexName,TableName' : 'TableName';
    return names.join() === 'ReadThrottleEvents,WriteThrottleEvents' && dimensions.every((d: string) => d === wanted)
      && stats.every((stat: Json) => !index || stat.Metric.Dimensions.some((d: Json) => d.Value === index));
  });
  assert.equal(throttleAlarm().length, 1, 'one alarm on the table\'s throttles');
  assert.equal(throttleAlarm('GSI1').length, 1, 'one alarm on GSI1\'s throttles');
  assert.equal(throttleAlarm('GSI2').length, 1, 'one alarm on GSI2\'s throttles');
  // The alarm fires on the sum of both: its one returned series is an
  // expression over every throttle metric, read as Sum per period.
  for (const alarm of [...throttleAlarm(), ...throttleAlarm('GSI1'), ...throttleAlarm('GSI2')]) {
    const metrics: Json[] = alarm.Properties.Metrics;
    const returned = metrics.filter((m) => m.ReturnData !== false);
    assert.equal(returned.length, 1, 'one series decides the alarm');
    const expression: string = returned[0].Expression ?? '';
    for (const stat of metrics.filter((m) => m.MetricStat)) {
      assert.ok(new RegExp(`\\b${stat.Id}\\b`).test(expression), `${expression} adds ${stat.Id}`);
      assert.equal(stat.MetricStat.Stat, 'Sum');
    }
    assert.ok(/\+/.test(expression), `${expression} is a sum`);
  }
});

test('the task role has no wildcard actions', () => {
  const taskRole = logicalId('AWS::IAM::Role', (id) => id.startsWith('TaskTaskRole'));
  const policies = Object.values(service.findResources('AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(taskRole));
  // Its own, and the table key's (created only with a TableKeyArn).
  assert.equal(policies.length, 2);
  const actions = policies.flatMap((policy) => policy.Properties.PolicyDocument.Statement
    .flatMap((s: { Action: string | string[] }) => [s.Action].flat()));
  assert.ok(actions.length > 0);
  for (const action of actions) {
    assert.ok(!action.includes('*'), `no wildcard action: ${action}`);
  }
  for (const needed of ['dynamodb:Query', 'dynamodb:Scan', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable', 'dynamodb:DescribeTimeToLive', 'sqs:ReceiveMessage', 'sqs:DeleteMessage',
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
  service.resourceCountIs('AWS::ApiGatewayV2::VpcLink', 1);
  service.hasResourceProperties('AWS::ApiGatewayV2::Stage', { AccessLogSettings: Match.anyValue() });
  // CPU, requests per target, and the notification backlog.
  service.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 3);
});

test('an ADOT sidecar takes the spans on loopback and the task role may write them to X-Ray', () => {
  const task = Object.values(service.findResources('AWS::ECS::TaskDefinition'))[0];
  const [app, collector] = task.Properties.ContainerDefinitions;
  assert.equal(collector.Name, 'otel-collector');
  assert.equal(collector.Essential, false, 'losing traces must not stop the API');
  // Through the account's own registry (a pull-through cache of ECR Public).
  assert.match(render(collector.Image), /^\$\{AWS::AccountId\}\.dkr\.ecr\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}\/ecommerce-ecr-public\/aws-observability\/aws-otel-collector:v\d+\.\d+\.\d+$/);
  service.hasResourceProperties('AWS::ECR::PullThroughCacheRule', { UpstreamRegistryUrl: 'public.ecr.aws' });
  const config = collector.Environment.find((e: { Name: string }) => e.Name === 'AOT_CONFIG_CONTENT').Value;
  assert.match(config, /endpoint: 127\.0\.0\.1:4318/);
  assert.match(config, /exporters: \[awsxray\]/);
  const env = Object.fromEntries(app.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
  assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://127.0.0.1:4318');
  assert.equal(env.METRICS, 'on');
  // The service starts whether or not the collector does.
  assert.equal(app.DependsOn, undefined);
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

test('the public-alb front door has no API Gateway, serves HTTPS with the given certificate and redirects HTTP', () => {
  const app = buildApp({ imageSource: 'parameter', frontDoor: 'public-alb' });
  const template = Template.fromStack(app.node.findChild(SERVICE_STACK) as never);
  template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
  template.hasParameter('CertificateArn', { Type: 'String' });
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
    Port: 443,
    Protocol: 'HTTPS',
    Certificates: [{ CertificateArn: { Ref: 'CertificateArn' } }],
  });
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
    Port: 80,
    DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443' }) })],
  });
  const listeners = Object.values(template.findResources('AWS::ElasticLoadBalancingV2::Listener'));
  assert.ok(listeners.every((l) => l.Properties.Protocol === 'HTTPS' || l.Properties.DefaultActions[0].Type === 'redirect'),
    'nothing is served over plain HTTP');
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
  // A parameter left out of the overrides falls back to its default on
  // every deploy: only those whose default is the committed deployment's.
  const committed = ['TableKeyArn', 'SesIdentityArn', 'SesFromAddress'];
  assert.deepEqual(Object.keys(parameterOverrides(deploy.ParameterOverrides)).sort(),
    Object.keys(synthesized.service.Parameters).filter((name) => !committed.includes(name)).sort());
});

/** A CodePipeline ParameterOverrides value: JSON text that CloudFormation
 * joins from literal parts and references (each reference stands in a string). */
function parameterOverrides(value: Json): Record<string, unknown> {
  const text = typeof value === 'string'
    ? value
    : value['Fn::Join'][1].map((part: Json) => (typeof part === 'string' ? part : 'reference')).join('');
  return JSON.parse(text);
}

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
  // Readiness reads DynamoDB: no public route (a caller needs a token).
  assert.deepEqual(open, ['GET /', 'GET /api-docs/{proxy+}', 'GET /health/live', 'GET /swagger-ui', 'GET /swagger-ui/{proxy+}']);
  const task = Object.values(service.findResources('AWS::ECS::TaskDefinition'))[0] as any;
  const environment = task.Properties.ContainerDefinitions[0].Environment;
  assert.deepEqual(environment.find((v: any) => v.Name === 'AUTH_MODE'), { Name: 'AUTH_MODE', Value: 'jwt' });
});

test('the balancer and ECS check liveness, never a path that waits on DynamoDB', () => {
  assert.equal(TARGET_HEALTH_PATH, '/health/live');
  service.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: TARGET_HEALTH_PATH });
  const task = Object.values(service.findResources('AWS::ECS::TaskDefinition'))[0];
  assert.deepEqual(task.Properties.ContainerDefinitions[0].HealthCheck.Command,
    ['CMD', '/usr/local/bin/ecommerce-service', 'healthcheck']);
});

test('each AZ has its own NAT gateway, and DynamoDB and S3 traffic takes free gateway endpoints', () => {
  service.resourceCountIs('AWS::EC2::NatGateway', AVAILABILITY_ZONES);
  const endpoints = resources(synthesized.service, 'AWS::EC2::VPCEndpoint').map(([, e]) => e.Properties);
  const services = endpoints.map((e) => JSON.stringify(e.ServiceName));
  assert.ok(services.some((name) => name.includes('.dynamodb')), 'a DynamoDB endpoint');
  assert.ok(services.some((name) => name.includes('.s3')), 'an S3 endpoint');
  assert.ok(endpoints.every((e) => e.VpcEndpointType === 'Gateway'));
  // Every private route table (one per AZ) reaches both endpoints.
  for (const endpoint of endpoints) assert.equal(endpoint.RouteTableIds.length, AVAILABILITY_ZONES);
});

test('the VPC link has a security group of its own, and the internal ALB admits only it', () => {
  const [, link] = only(synthesized.service, 'AWS::ApiGatewayV2::VpcLink');
  assert.equal(link.Properties.SecurityGroupIds.length, 1);
  const linkGroup = link.Properties.SecurityGroupIds[0]['Fn::GetAtt'][0];
  assert.ok(linkGroup.startsWith('FrontDoorVpcLinkSecurityGroup'));
  const albIngress = resources(synthesized.service, 'AWS::EC2::SecurityGroupIngress')
    .filter(([, rule]) => rule.Properties.GroupId['Fn::GetAtt'][0].startsWith('FrontDoorAlbSecurityGroup'));
  assert.ok(albIngress.length > 0);
  for (const [, rule] of albIngress) {
    assert.equal(rule.Properties.SourceSecurityGroupId['Fn::GetAtt'][0], linkGroup);
  }
});

test('the HTTP API stage\'s burst is at least its rate, within the account defaults, and flooded routes have limits of their own', () => {
  assert.ok(STAGE_THROTTLE.burstLimit >= STAGE_THROTTLE.rateLimit);
  assert.ok(STAGE_THROTTLE.rateLimit <= 10_000 && STAGE_THROTTLE.burstLimit <= 5_000);
  service.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
    DefaultRouteSettings: Match.objectLike({
      ThrottlingRateLimit: STAGE_THROTTLE.rateLimit,
      ThrottlingBurstLimit: STAGE_THROTTLE.burstLimit,
    }),
  });
  const [, stage] = only(synthesized.service, 'AWS::ApiGatewayV2::Stage');
  const routeKeys = Object.values(service.findResources('AWS::ApiGatewayV2::Route'))
    .map((route: any) => route.Properties.RouteKey);
  for (const [key, limits] of Object.entries(ROUTE_THROTTLES)) {
    assert.ok(routeKeys.includes(key), `${key} is a route of its own`);
    assert.ok(limits.burstLimit >= limits.rateLimit && limits.rateLimit < STAGE_THROTTLE.rateLimit, key);
    assert.deepEqual(stage.Properties.RouteSettings[key],
      { ThrottlingRateLimit: limits.rateLimit, ThrottlingBurstLimit: limits.burstLimit });
  }
  // The stage waits for the routes its settings name.
  assert.ok([stage.DependsOn].flat().length >= Object.keys(ROUTE_THROTTLES).length);
});

test('the app client has no OAuth flows or callbacks, and the Pipe starts at the oldest record', () => {
  const [, client] = only(synthesized.service, 'AWS::Cognito::UserPoolClient');
  assert.notEqual(client.Properties.AllowedOAuthFlowsUserPoolClient, true);
  assert.equal(client.Properties.AllowedOAuthFlows, undefined);
  assert.equal(client.Properties.CallbackURLs, undefined);
  const [, pipe] = only(synthesized.service, 'AWS::Pipes::Pipe');
  assert.equal(pipe.Properties.SourceParameters.DynamoDBStreamParameters.StartingPosition, 'TRIM_HORIZON');
});

test('the pipeline tests on Debian, caches its builds, re-runs a commit, and may roll the service back', () => {
  const [, testProject] = only(synthesized.pipeline, 'AWS::CodeBuild::Project', (id) => id.startsWith('Test'));
  assert.equal(testProject.Properties.Environment.Image, TEST_IMAGE);
  assert.equal(testProject.Properties.Cache.Type, 'S3');
  const [, imageProject] = only(synthesized.pipeline, 'AWS::CodeBuild::Project', (id) => id.startsWith('ImageBuild'));
  assert.deepEqual(imageProject.Properties.Cache, { Type: 'LOCAL', Modes: ['LOCAL_DOCKER_LAYER_CACHE'] });
  const testSpec = readFileSync(path.join(__dirname, '..', 'buildspec', 'test.yml'), 'utf8');
  assert.match(testSpec, /cache:\s*\n\s*paths:/);
  const imageSpec = readFileSync(path.join(__dirname, '..', 'buildspec', 'image.yml'), 'utf8');
  assert.match(imageSpec, /describe-images/, 'a tag already pushed is reused, not pushed again');
  assert.match(imageSpec, /--cache-from "?type=registry/);
  // A supported Node.js LTS line (even major, 22 or later).
  const nodeMajor = Number(/node:(\d+)-bookworm$/.exec(TEST_IMAGE)?.[1]);
  assert.ok(nodeMajor >= 22 && nodeMajor % 2 === 0, `${TEST_IMAGE} is a supported LTS`);
  const [roleId] = only(synthesized.pipeline, 'AWS::IAM::Role', (id) => id.startsWith('DeployRole'));
  const [inline] = synthesized.pipeline.Resources[roleId].Properties.Policies;
  const actions = inline.PolicyDocument.Statement.flatMap((s: Json) => [s.Action].flat());
  for (const needed of ['iam:ListRolePolicies', 'iam:ListAttachedRolePolicies', 'iam:UpdateAssumeRolePolicy']) {
    assert.ok(actions.includes(needed), `the deploy role may ${needed}`);
  }
});

const CUT_OVER = {
  existingTableName: 'ecommerce-original',
  existingTableStreamArn: 'arn:aws:dynamodb:eu-west-1:111122223333:table/ecommerce-original/stream/2023-08-21T00:00:00.000',
};

test('a cut-over stack survives the pipeline: its Deploy applies a template with no table, TABLE_NAME unchanged and the Pipe on the existing stream', () => {
  // The runbook's `cdk deploy EcommerceService` and the committed template
  // (`npm run synth`) both come from infra/deployment.json: one synthesis.
  const cutOver = synth({ deployment: CUT_OVER });
  const stages = Object.values(template(cutOver.pipeline).findResources('AWS::CodePipeline::Pipeline'))[0]
    .Properties.Stages;
  const deploy = stages.find((stage: Json) => stage.Name === 'Deploy').Actions[0].Configuration;
  assert.equal(deploy.TemplatePath, 'Source::infra/cloudformation/EcommerceService.template.json');
  const deployed = cutOver.service;
  assert.equal(resources(deployed, 'AWS::DynamoDB::Table').length, 0, 'no table resource');
  const [, task] = only(deployed, 'AWS::ECS::TaskDefinition');
  const app = (task.Properties.ContainerDefinitions as Json[]).find((c) => c.Name === 'app');
  const environment = Object.fromEntries((app.Environment as Json[]).map((e) => [e.Name, e.Value]));
  assert.equal(environment.TABLE_NAME, CUT_OVER.existingTableName, 'TABLE_NAME unchanged');
  const [, pipe] = only(deployed, 'AWS::Pipes::Pipe');
  assert.equal(pipe.Properties.Source, CUT_OVER.existingTableStreamArn, 'the Pipe on the existing stream');
  // The replaced system notified its own last 24 hours of changes.
  assert.equal(pipe.Properties.SourceParameters.DynamoDBStreamParameters.StartingPosition, 'LATEST');
  // No parameter of the template picks the table: no run can reset it.
  assert.deepEqual(Object.keys(deployed.Parameters).filter((name) => /Table(Name|Stream)/.test(name)), []);
  const granted = JSON.stringify(resources(deployed, 'AWS::IAM::Policy'));
  assert.ok(granted.includes(`table/${CUT_OVER.existingTableName}/index/*`), 'the task may query its indexes');
});

test('a -c flag that disagrees with infra/deployment.json stops the synth, and a half-given table too', () => {
  const withContext = (context: Record<string, string>) => () => synth({ context });
  assert.throws(withContext({ existingTableName: 'ecommerce-original' }), /differs from infra\/deployment.json/);
  assert.throws(() => synth({ deployment: { ...CUT_OVER, existingTableStreamArn: '' } }), /go together/);
  const otherTables = { ...CUT_OVER, existingTableName: 'other-table' };
  assert.throws(() => synth({ deployment: otherTables }), /is not other-table's/);
  // The committed file as it is: a new table.
  assert.equal(resources(synth().service, 'AWS::DynamoDB::Table').length, 1);
});

test('a customer managed table key is a parameter that grants the task and Pipe roles, its default the committed key', () => {
  const tableKeyArn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const deployed = synth({ deployment: { ...CUT_OVER, tableKeyArn } });
  // The pipeline passes no TableKeyArn: each of its runs keeps this default.
  assert.equal(deployed.service.Parameters.TableKeyArn.Default, tableKeyArn);
  assert.throws(() => synth({ deployment: { ...CUT_OVER, tableKeyArn: 'alias/mine' } }), /not a KMS key ARN/);
  const keyPolicies = resources(deployed.service, 'AWS::IAM::Policy').filter(([id]) => id.includes('TableKey'));
  assert.equal(keyPolicies.length, 2);
  for (const [, policy] of keyPolicies) {
    assert.equal(policy.Condition, 'HasTableKey', 'no key, no policy');
    assert.deepEqual(policy.Properties.PolicyDocument.Statement[0].Resource, { Ref: 'TableKeyArn' });
  }
  const actions = keyPolicies.map(([, p]) => [p.Properties.PolicyDocument.Statement[0].Action].flat().sort());
  assert.deepEqual(actions.map((a) => a.includes('kms:Decrypt')), [true, true]);
  const [, task] = only(deployed.service, 'AWS::ECS::TaskDefinition');
  const app = (task.Properties.ContainerDefinitions as Json[]).find((c) => c.Name === 'app');
  const environment = Object.fromEntries((app.Environment as Json[]).map((e) => [e.Name, e.Value]));
  assert.deepEqual(environment.TABLE_KEY_ARN, { Ref: 'TableKeyArn' });
});

test('Cognito sends its mail through a committed SES identity, or its own sender when there is none', () => {
  const identityArn = 'arn:aws:ses:eu-west-1:111122223333:identity/example.com';
  const withSes = synth({ deployment: { ...CUT_OVER, sesIdentityArn: identityArn, sesFromAddress: 'Shop <no-reply@example.com>' } });
  assert.equal(withSes.service.Parameters.SesIdentityArn.Default, identityArn);
  const [, pool] = only(withSes.service, 'AWS::Cognito::UserPool');
  const [condition, ses, own] = pool.Properties.EmailConfiguration['Fn::If'];
  assert.equal(withSes.service.Conditions[condition]['Fn::Not'][0]['Fn::Equals'][0].Ref, 'SesIdentityArn');
  assert.deepEqual(ses, { EmailSendingAccount: 'DEVELOPER', SourceArn: { Ref: 'SesIdentityArn' }, From: { Ref: 'SesFromAddress' } });
  assert.deepEqual(own, { EmailSendingAccount: 'COGNITO_DEFAULT' });
  assert.equal(synthesized.service.Parameters.SesIdentityArn.Default, '');
});
