// Classes of defect that the emulator cannot show and AWS refuses: each test
// holds every instance in the synthesized templates, not one resource.
import { strict as assert } from 'node:assert';
import { PULL_THROUGH_PREFIX } from '../lib/tracing';
import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import {
  MIX_CPU_MS_PER_REQUEST, TARGET_CPU_PERCENT, TASK_CPU_UNITS, requestsPerTargetPerMinute, taskCapacityPerSecond,
} from '../lib/config';
import { Json, actionsOf, only, render, resources, roleStatements, servicePrincipals, synth } from './synth';

const REPOSITORY_ROOT = path.join(__dirname, '..', '..');
const parameterApp = synth();
const assetApp = synth({ imageSource: 'asset' });
const publicAlbApp = synth({ frontDoor: 'public-alb' });
const SERVICE_TEMPLATES: [string, Json][] = [
  ['committed (image parameters)', parameterApp.service],
  ['cdk deploy (image asset)', assetApp.service],
  ['public-alb front door', publicAlbApp.service],
];

// "Amazon ECS task execution IAM role": pulling from a private ECR
// repository takes ecr:GetAuthorizationToken (on *) and ecr:BatchGetImage
// and ecr:GetDownloadUrlForLayer on the repository. Public registries need none.
test('the execution role can pull every private ECR image its task runs', () => {
  for (const [name, json] of SERVICE_TEMPLATES) {
    for (const [id, task] of resources(json, 'AWS::ECS::TaskDefinition')) {
      const role = task.Properties.ExecutionRoleArn['Fn::GetAtt'][0];
      const statements = roleStatements(json, role);
      const covers = (pattern: string, arn: string) =>
        pattern === arn || (pattern.endsWith('/*') && arn.startsWith(pattern.slice(0, -1)));
      const allows = (action: string, resource: string) => statements.some((s) =>
        s.Effect === 'Allow' && actionsOf(s).includes(action)
        && [s.Resource].flat().map(render).some((pattern) => covers(pattern, resource)));
      let privateImages = 0;
      for (const container of task.Properties.ContainerDefinitions) {
        const image = render(container.Image);
        const ecr = /^[^/]+\.dkr\.ecr\.[^/]+\/(.+)[:@](\$\{\w+\}|[\w.-]+)$/.exec(image);
        if (!ecr) {
          assert.match(image, /^public\.ecr\.aws\//, `${name}: ${container.Name} pulls ${image} from a public registry`);
          continue;
        }
        privateImages += 1;
        const repository = `arn:\${AWS::Partition}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/${ecr[1]}`;
        // A pull-through cache's first pull also imports the image and
        // creates its repository ("IAM permissions required to sync an
        // upstream registry with an Amazon ECR private registry").
        const cached = ecr[1].startsWith(`${PULL_THROUGH_PREFIX}/`);
        const needed = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer',
          ...(cached ? ['ecr:BatchImportUpstreamImage', 'ecr:CreateRepository'] : [])];
        for (const action of needed) {
          assert.ok(allows(action, repository), `${name}: ${id}'s execution role may ${action} on ${repository}`);
        }
        assert.ok(allows('ecr:GetAuthorizationToken', '*'), `${name}: ${id}'s execution role may get an ECR token`);
      }
      assert.ok(privateImages > 0, `${name}: the service image is in private ECR`);
    }
  }
});

// "CloudFormation quotas": a template body passed inline is at most
// 51,200 bytes; one in S3 at most 1 MB. `aws cloudformation deploy` uploads
// it to S3 with --s3-bucket.
test('every deploy command the documentation gives is valid for its template\'s size', () => {
  const readme = ['docs/operations/deploy.md', 'docs/operations/cutover.md']
    .map((page) => readFileSync(path.join(REPOSITORY_ROOT, page), 'utf8'))
    .join('\n');
  const commands = [...readme.replace(/\\\n\s*/g, ' ').matchAll(/aws cloudformation (deploy|create-stack|update-stack) [^\n]*/g)]
    .map((match) => match[0]);
  assert.ok(commands.length > 0, 'the deploy page documents a CloudFormation deploy');
  for (const command of commands) {
    const file = /--template-(?:file|body) (?:file:\/\/)?(\S+)/.exec(command)?.[1];
    assert.ok(file, `${command} names a template file`);
    const bytes = statSync(path.join(REPOSITORY_ROOT, file)).size;
    assert.ok(bytes <= 1_000_000, `${file} is ${bytes} bytes, over CloudFormation's 1 MB limit`);
    if (bytes > 51_200) {
      assert.match(command, /--s3-bucket \S+/, `${file} is ${bytes} bytes: inline templates stop at 51,200, so \`${command}\` needs --s3-bucket`);
    }
  }
});

// CloudWatch publishes an alarm only to a topic whose policy lets
// cloudwatch.amazonaws.com publish and whose key (if any) it may use, and
// an alarm nobody receives is no alarm.
test('every alarm action\'s topic accepts CloudWatch, uses a key CloudWatch may use, and has a subscriber', () => {
  for (const [name, json] of SERVICE_TEMPLATES) {
    const alarms = resources(json, 'AWS::CloudWatch::Alarm');
    assert.ok(alarms.length > 0);
    // Alarms of step-scaling policies act on the policy; every other alarm tells someone.
    const scalingAlarm = (alarm: Json) => (alarm.Properties.AlarmActions ?? [])
      .some((action: Json) => json.Resources[action.Ref]?.Type === 'AWS::ApplicationAutoScaling::ScalingPolicy');
    const topics = new Set(alarms.filter(([, alarm]) => !scalingAlarm(alarm)).flatMap(([id, alarm]) => {
      const actions = [...(alarm.Properties.AlarmActions ?? []), ...(alarm.Properties.OKActions ?? [])];
      assert.ok(actions.length > 0, `${name}: ${id} notifies someone`);
      return actions.map((action: Json) => {
        assert.ok(action.Ref, `${name}: ${id}'s actions are topics of this stack`);
        return action.Ref as string;
      });
    }));
    assert.ok(topics.size > 0, `${name}: the alarms notify a topic`);
    for (const topicId of topics) {
      const topic = json.Resources[topicId];
      assert.equal(topic.Type, 'AWS::SNS::Topic');
      const cloudWatchMay = (statement: Json, action: string) => statement.Effect === 'Allow'
        && servicePrincipals(statement).includes('cloudwatch.amazonaws.com')
        && actionsOf(statement).some((a) => a === action || (a.endsWith('*') && action.startsWith(a.slice(0, -1))));
      const topicStatements = resources(json, 'AWS::SNS::TopicPolicy')
        .filter(([, policy]) => policy.Properties.Topics.some((t: Json) => t.Ref === topicId))
        .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement);
      assert.ok(topicStatements.some((s) => cloudWatchMay(s, 'sns:Publish')), `${name}: CloudWatch may publish to ${topicId}`);

      const keyRef = topic.Properties.KmsMasterKeyId;
      if (keyRef !== undefined) {
        const keyId = keyRef.Ref ?? keyRef['Fn::GetAtt']?.[0];
        assert.ok(keyId && json.Resources[keyId]?.Type === 'AWS::KMS::Key',
          `${name}: ${topicId} is encrypted with a key of the stack (not ${render(keyRef)}, whose policy CloudWatch is not in)`);
        const keyStatements = json.Resources[keyId].Properties.KeyPolicy.Statement;
        for (const action of ['kms:Decrypt', 'kms:GenerateDataKey']) {
          assert.ok(keyStatements.some((s: Json) => cloudWatchMay(s, action)), `${name}: CloudWatch may ${action} with ${keyId}`);
        }
      }

      const subscriptions = resources(json, 'AWS::SNS::Subscription')
        .filter(([, s]) => s.Properties.TopicArn.Ref === topicId);
      assert.ok(subscriptions.length > 0, `${name}: ${topicId} has a subscriber`);
      for (const [id, subscription] of subscriptions) {
        const endpoint = subscription.Properties.Endpoint;
        assert.ok(endpoint?.Ref && json.Parameters?.[endpoint.Ref], `${name}: ${id}'s endpoint is a parameter`);
      }
    }
  }
});

// Every Region has its own ELB log-delivery account, AZ names and service
// endpoints: a literal of any of them ties the template to one Region.
test('no resource is pinned to a Region', () => {
  const regions = RegionInfo.regions.map((region) => region.name);
  const elbAccounts = RegionInfo.regions.map((region) => region.elbv2Account).filter((account): account is string => !!account);
  assert.ok(regions.includes('us-east-1') && elbAccounts.length > 10, 'the Region list is the real one');
  const templates: [string, Json][] = [
    ...SERVICE_TEMPLATES,
    ['pipeline', parameterApp.pipeline],
  ];
  for (const [name, json] of templates) {
    const text = JSON.stringify(json);
    for (const region of regions) {
      assert.ok(!text.includes(`"${region}`) && !new RegExp(`[^a-z0-9-]${region}[^0-9]`).test(text),
        `${name} mentions the Region ${region}`);
    }
    for (const account of elbAccounts) {
      assert.ok(!text.includes(account), `${name} names the ELB account ${account} of one Region`);
    }
  }
});

// "ALBRequestCountPerTarget": requests per target per minute (the
// metric's one-minute sum), not per second.
test('scaling targets are in their metric\'s units, from the measured capacity of one task', () => {
  const vcpu = TASK_CPU_UNITS / 1024;
  const perSecond = (vcpu * TARGET_CPU_PERCENT * 10) / MIX_CPU_MS_PER_REQUEST;
  assert.equal(taskCapacityPerSecond(), Math.floor(perSecond));
  for (const [name, json] of SERVICE_TEMPLATES) {
    const policies = resources(json, 'AWS::ApplicationAutoScaling::ScalingPolicy')
      .map(([, policy]) => policy.Properties.TargetTrackingScalingPolicyConfiguration)
      .filter(Boolean);
    const byMetric = new Map<string, number>(policies.map((config: Json) =>
      [config.PredefinedMetricSpecification.PredefinedMetricType, config.TargetValue]));
    const requests = byMetric.get('ALBRequestCountPerTarget');
    assert.equal(requests, requestsPerTargetPerMinute(), `${name}: requests per target per minute`);
    assert.equal(requests, taskCapacityPerSecond() * 60);
    // At full CPU one task serves at most this many requests a minute.
    assert.ok(requests! <= ((vcpu * 1000) / MIX_CPU_MS_PER_REQUEST) * 60, `${name}: the target is below one task's ceiling`);
    const cpu = byMetric.get('ECSServiceAverageCPUUtilization');
    assert.equal(cpu, TARGET_CPU_PERCENT, `${name}: CPU target in percent`);
  }
});

test('base images come from registries that do not rate-limit anonymous pulls (not Docker Hub)', () => {
  const dockerfile = readFileSync(path.join(REPOSITORY_ROOT, 'Dockerfile'), 'utf8');
  const defaults = Object.fromEntries([...dockerfile.matchAll(/^ARG (\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
  const images = [...dockerfile.matchAll(/^FROM (\S+)/gm)]
    .map((m) => m[1].replace(/\$\{(\w+)\}/g, (_, name) => defaults[name] ?? name))
    .filter((image) => !/^[a-z]+$/.test(image)); // an earlier stage
  assert.ok(images.length >= 2);
  for (const image of images) {
    const host = image.split('/')[0];
    assert.ok(image.includes('/') && host.includes('.') && host !== 'docker.io', `${image} names a registry other than Docker Hub`);
  }
  const [, testProject] = only(parameterApp.pipeline, 'AWS::CodeBuild::Project', (id) => id.startsWith('Test'));
  assert.match(testProject.Properties.Environment.Image, /^public\.ecr\.aws\//);
});

// Each buildspec's `aws` calls run with its CodeBuild project's role: every
// call must be allowed to it (a denied `describe-images` once read as "not
// pushed yet" and the re-run failed pushing an immutable tag), and no call's
// failure may be thrown away.
test('every aws call in a buildspec is allowed to its project\'s role, and none has its failure hidden', () => {
  const pipeline = synth().pipeline;
  const projects: [string, string][] = [['Test', 'test.yml'], ['ImageBuild', 'image.yml']];
  for (const [prefix, file] of projects) {
    // The commands, not the comments about them.
    const spec = readFileSync(path.join(__dirname, '..', 'buildspec', file), 'utf8')
      .split('\n').filter((line) => !line.trim().startsWith('#')).join('\n');
    const [, project] = only(pipeline, 'AWS::CodeBuild::Project', (id) => id.startsWith(prefix));
    const role = project.Properties.ServiceRole['Fn::GetAtt'][0];
    const allowed = roleStatements(pipeline, role).filter((s) => s.Effect === 'Allow').flatMap(actionsOf);
    const calls = [...spec.matchAll(/\baws ([a-z0-9-]+) ([a-z0-9-]+)/g)];
    for (const [call, service, command] of calls) {
      // The CLI's one command that is no API operation of its name.
      const operation = command === 'get-login-password'
        ? 'GetAuthorizationToken'
        : command.split('-').map((word) => word[0].toUpperCase() + word.slice(1)).join('');
      assert.ok(allowed.includes(`${service}:${operation}`), `${file}: \`${call}\` needs ${service}:${operation}`);
    }
    for (const line of spec.split('\n').filter((l) => /\baws /.test(l))) {
      assert.doesNotMatch(line, /2>\/dev\/null|>\/dev\/null 2>&1|\|\| true/, `${file}: ${line.trim()} hides its failure`);
    }
    if (file === 'image.yml') {
      assert.ok(calls.length >= 2, 'the image build logs in and asks for the commit\'s image');
      assert.doesNotMatch(spec, /buildx create|moby\/buildkit/, 'no builder image pulled from Docker Hub');
    }
  }
});

// What a failed first create leaves behind is what the README tells an
// operator to adopt or remove before the next try (docs/operations/deploy.md,
// "When a deploy fails"); everything else goes with the stack.
test('the resources a stack leaves behind are the ones the deploy page lists', () => {
  const readme = readFileSync(path.join(REPOSITORY_ROOT, 'docs/operations/deploy.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## When a deploy fails'), readme.indexOf('## The pipeline'));
  const described: Record<string, RegExp> = {
    'AWS::DynamoDB::Table': /the table \(`EcommerceTable/,
    'AWS::Cognito::UserPool': /the Cognito user pool/,
    'AWS::S3::Bucket': /the ALB access-log bucket/,
  };
  for (const [name, json] of SERVICE_TEMPLATES) {
    const retained = Object.values(json.Resources as Record<string, Json>)
      .filter((resource) => resource.DeletionPolicy === 'Retain')
      .map((resource) => resource.Type as string);
    assert.ok(retained.length > 0, name);
    for (const type of retained) {
      assert.ok(described[type], `${name}: a retained ${type} the README does not list`);
      assert.match(section, described[type], `${name}: the README lists the retained ${type}`);
    }
  }
});
