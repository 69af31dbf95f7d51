import { CfnCapabilities, CfnElement, CfnParameter, Duration, Fn, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as cpactions from 'aws-cdk-lib/aws-codepipeline-actions';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';

/** Debian bookworm with Node.js 24 (an LTS line until April 2028; 20's
 * support ended on 2026-04-30) and Python 3, from ECR Public. */
export const TEST_IMAGE = 'public.ecr.aws/docker/library/node:24-bookworm';
/** The registry tag that holds BuildKit's layer cache. */
export const BUILD_CACHE_TAG = 'buildcache';

export interface PipelineStackProps extends StackProps {
  /** The stack the pipeline deploys, from the committed template. */
  readonly serviceStackName: string;
}

/** The seed's CodePipeline + CodeBuild, for the container: source → the
 * project's own test command → image build and push → deploy of the
 * committed service template with the new image. Optional: deploy it only
 * if you want continuous delivery. */
export class PipelineStack extends Stack {
  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const connectionArn = new CfnParameter(this, 'ConnectionArn', {
      type: 'String',
      description: 'ARN of a CodeStar connection to the repository host',
    });
    const repository = new CfnParameter(this, 'RepositoryId', {
      type: 'String',
      description: 'owner/name of the repository',
    });
    const branch = new CfnParameter(this, 'BranchName', { type: 'String', default: 'main' });
    const alarmEmail = new CfnParameter(this, 'AlarmEmail', {
      type: 'String',
      default: '',
      description: 'Passed to the service stack\'s AlarmEmail on every deploy; empty for none',
    });


    const key = new kms.Key(this, 'ArtifactsKey', { enableKeyRotation: true, removalPolicy: RemovalPolicy.DESTROY });
    const artifacts = new s3.Bucket(this, 'Artifacts', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: key,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      lifecycleRules: [{ expiration: Duration.days(30) }],
    });
    acknowledge(artifacts, 'S1', 'Pipeline artifacts are short-lived build inputs; CloudTrail records access to them.');
    // A commit's tag never moves; `buildcache` is the one tag BuildKit
    // rewrites on every build (the layer cache, kept in the registry).
    const images = new ecr.Repository(this, 'Images', {
      imageScanOnPush: true,
      imageTagMutability: ecr.TagMutability.IMMUTABLE_WITH_EXCLUSION,
      imageTagMutabilityExclusionFilters: [ecr.ImageTagMutabilityExclusionFilter.wildcard(BUILD_CACHE_TAG)],
      lifecycleRules: [{ maxImageCount: 50 }],
    });

    const source = new codepipeline.Artifact('Source');
    const image = new codepipeline.Artifact('Image');

    // .ci/run installs Debian's packages (chromium, wrk, docker-compose),
    // which CodeBuild's Ubuntu standard image does not have under those
    // names: the tests run in Debian bookworm with Node.js 24, pulled from
    // ECR Public (Docker Hub rate-limits anonymous pulls).
    const test = new codebuild.PipelineProject(this, 'Test', {
      description: 'Runs the project test command (bash .ci/run)',
      buildSpec: codebuild.BuildSpec.fromSourceFilename('infra/buildspec/test.yml'),
      environment: {
        buildImage: codebuild.LinuxBuildImage.fromDockerRegistry(TEST_IMAGE),
        computeType: codebuild.ComputeType.LARGE,
      },
      // The cargo registry, target directory, venv and npm cache of .ci/run
      // (buildspec `cache.paths`), kept between builds.
      cache: codebuild.Cache.bucket(artifacts, { prefix: 'cache/test' }),
      encryptionKey: key,
      timeout: Duration.minutes(90),
    });
    acknowledge(test, 'CB5', '.ci/run needs Debian\'s chromium, wrk and docker-compose packages, which no CodeBuild-provided image offers; the image is the Node.js 24 Debian official image from ECR Public.');
    const build = new codebuild.PipelineProject(this, 'ImageBuild', {
      description: 'Builds the linux/arm64 image and pushes it to ECR',
      buildSpec: codebuild.BuildSpec.fromSourceFilename('infra/buildspec/image.yml'),
      environment: {
        buildImage: codebuild.LinuxArmBuildImage.AMAZON_LINUX_2_STANDARD_3_0,
        computeType: codebuild.ComputeType.LARGE,
        privileged: true,
        environmentVariables: {
          IMAGE_REPOSITORY_URI: { value: images.repositoryUri },
          BUILD_CACHE_TAG: { value: BUILD_CACHE_TAG },
        },
      },
      // Layers stay on the build host between close builds; the registry
      // cache (image.yml) serves every other build.
      cache: codebuild.Cache.local(codebuild.LocalCacheMode.DOCKER_LAYER),
      encryptionKey: key,
      timeout: Duration.minutes(60),
    });
    images.grantPullPush(build);
    // A re-run of a commit asks whether its image is pushed already.
    images.grant(build, 'ecr:DescribeImages');
    acknowledge(build, 'CB3', 'Privileged mode is what lets CodeBuild run docker build; only the image project has it.');

    const deployRole = new iam.Role(this, 'DeployRole', {
      assumedBy: new iam.ServicePrincipal('cloudformation.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('PowerUserAccess')],
      inlinePolicies: {
        roles: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              // What creating the stack's roles needs, and what a rollback
              // or an update of them needs too (listing, trust policy).
              actions: ['iam:CreateRole', 'iam:DeleteRole', 'iam:GetRole', 'iam:PassRole', 'iam:PutRolePolicy',
                'iam:DeleteRolePolicy', 'iam:GetRolePolicy', 'iam:AttachRolePolicy', 'iam:DetachRolePolicy',
                'iam:ListRolePolicies', 'iam:ListAttachedRolePolicies', 'iam:UpdateAssumeRolePolicy',
                'iam:ListRoleTags', 'iam:TagRole', 'iam:UntagRole', 'iam:CreateServiceLinkedRole'],
              resources: [`arn:${this.partition}:iam::${this.account}:role/${props.serviceStackName}-*`,
                `arn:${this.partition}:iam::${this.account}:role/aws-service-role/*`],
            }),
          ],
        }),
      },
    });
    acknowledge(deployRole, 'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/PowerUserAccess]',
      'CloudFormation creates every kind of resource in the service stack; its IAM rights are limited to the stack\'s own roles.');
    for (const resource of [`role/${props.serviceStackName}-*`, 'role/aws-service-role/*']) {
      acknowledge(deployRole, `IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:${resource}]`,
        'Role names are generated by CloudFormation; the prefix confines them to the service stack (and service-linked roles).');
    }
    // The grants CDK generates for CodePipeline and CodeBuild use wildcards
    // that are scoped to this stack's own bucket, key, projects and stack.
    const generated = [
      'Action::cloudformation:DescribeStack*', 'Action::cloudformation:GetTemplate*',
      'Action::kms:GenerateDataKey*', 'Action::kms:ReEncrypt*',
      'Action::s3:Abort*', 'Action::s3:DeleteObject*', 'Action::s3:GetBucket*', 'Action::s3:GetObject*', 'Action::s3:List*',
      'Resource::<Artifacts82DD59A1.Arn>/*',
      `Resource::arn:<AWS::Partition>:cloudformation:<AWS::Region>:<AWS::AccountId>:stack/${props.serviceStackName}/*`,
      ...[test, build].flatMap((project) => {
        const id = this.getLogicalId(project.node.defaultChild as CfnElement);
        return [
          `Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/<${id}>-*`,
          `Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/<${id}>:*`,
        ];
      }),
    ];
    for (const finding of generated) {
      acknowledge(this, `IAM5[${finding}]`, 'Generated by CDK for the pipeline, scoped to this stack\'s own artifact bucket, key, build projects and target stack.');
    }
    acknowledge(build, 'IAM5[Resource::*]', 'ecr:GetAuthorizationToken has no resource scope; pushes are limited to the image repository.');

    new codepipeline.Pipeline(this, 'Pipeline', {
      artifactBucket: artifacts,
      pipelineType: codepipeline.PipelineType.V2,
      restartExecutionOnUpdate: true,
      stages: [
        {
          stageName: 'Source',
          actions: [new cpactions.CodeStarConnectionsSourceAction({
            actionName: 'Source',
            connectionArn: connectionArn.valueAsString,
            owner: Fn.select(0, Fn.split('/', repository.valueAsString)),
            repo: Fn.select(1, Fn.split('/', repository.valueAsString)),
            branch: branch.valueAsString,
            output: source,
          })],
        },
        { stageName: 'Test', actions: [new cpactions.CodeBuildAction({ actionName: 'Test', project: test, input: source })] },
        {
          stageName: 'Image',
          actions: [new cpactions.CodeBuildAction({ actionName: 'Image', project: build, input: source, outputs: [image] })],
        },
        {
          stageName: 'Deploy',
          actions: [new cpactions.CloudFormationCreateUpdateStackAction({
            actionName: 'Deploy',
            stackName: props.serviceStackName,
            templatePath: source.atPath('infra/cloudformation/EcommerceService.template.json'),
            // Every parameter of the service template but those whose
            // default is the committed infra/deployment.json's (TableKeyArn,
            // SesIdentityArn, SesFromAddress): one left out falls back to
            // its default on each deploy.
            parameterOverrides: {
              ImageRepository: images.repositoryName,
              ImageTag: image.getParam('image.json', 'ImageTag'),
              AlarmEmail: alarmEmail.valueAsString,
            },
            extraInputs: [image],
            adminPermissions: false,
            deploymentRole: deployRole,
            cfnCapabilities: [CfnCapabilities.NAMED_IAM],
          })],
        },
      ],
    });
  }
}

