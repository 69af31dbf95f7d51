import { App, AppProps, BootstraplessSynthesizer, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FrontDoor, ImageSource } from './config';
import { Deployment, assertContextAgrees, existingTableOf, readDeployment, tableKeyOf } from './deployment';
import { PipelineStack } from './pipeline-stack';
import { ServiceStack } from './service-stack';

export const SERVICE_STACK = 'EcommerceService';
export const PIPELINE_STACK = 'EcommerceServicePipeline';

export interface AppOptions extends AppProps {
  readonly frontDoor?: FrontDoor;
  readonly imageSource?: ImageSource;
  /** What the deployment serves. Default: the committed infra/deployment.json. */
  readonly deployment?: Deployment;
}

/** The whole app, checked by cdk-nag. With `imageSource: 'parameter'` the
 * stacks need neither assets nor CDK bootstrapping, so their templates
 * deploy with plain `aws cloudformation deploy`. */
export function buildApp(options: AppOptions = {}): App {
  const app = new App(options);
  const context = (key: string) => app.node.tryGetContext(key) as string | undefined;
  const imageSource = options.imageSource ?? (context('imageSource') as ImageSource | undefined) ?? 'asset';
  const synthesizer = imageSource === 'parameter' ? new BootstraplessSynthesizer() : undefined;
  // A table that exists (the replaced system's) instead of a new one: from
  // the committed deployment file, which the pipeline's template is
  // synthesized from too.
  const deployment = options.deployment ?? readDeployment();
  assertContextAgrees(deployment, context);
  const existingTable = existingTableOf(deployment);

  // Environment-agnostic: no account or Region is fixed at synth, so the
  // templates deploy in any Region (CloudFormation fills in AWS::Region),
  // and synth needs no credentials.
  new ServiceStack(app, SERVICE_STACK, {
    description: 'ecommerce-service on ECS Fargate with its DynamoDB table, notifications and alarms',
    frontDoor: options.frontDoor ?? (context('frontDoor') as FrontDoor | undefined) ?? 'http-api',
    imageSource,
    synthesizer,
    existingTable,
    tableKeyArn: tableKeyOf(deployment),
    ses: { identityArn: deployment.sesIdentityArn, fromAddress: deployment.sesFromAddress },
  });
  new PipelineStack(app, PIPELINE_STACK, {
    description: 'Optional delivery pipeline: source, test, image, deploy of EcommerceService',
    serviceStackName: SERVICE_STACK,
    synthesizer: new BootstraplessSynthesizer(),
  });

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}
