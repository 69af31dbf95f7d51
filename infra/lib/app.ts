import { App, AppProps, BootstraplessSynthesizer, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FrontDoor, ImageSource } from './config';
import { PipelineStack } from './pipeline-stack';
import { ExistingTable, ServiceStack } from './service-stack';

export const SERVICE_STACK = 'EcommerceService';
export const PIPELINE_STACK = 'EcommerceServicePipeline';

export interface AppOptions extends AppProps {
  readonly frontDoor?: FrontDoor;
  readonly imageSource?: ImageSource;
  readonly existingTable?: ExistingTable;
}

/** The whole app, checked by cdk-nag. With `imageSource: 'parameter'` the
 * stacks need neither assets nor CDK bootstrapping, so their templates
 * deploy with plain `aws cloudformation deploy`. */
export function buildApp(options: AppOptions = {}): App {
  const app = new App(options);
  const context = (key: string) => app.node.tryGetContext(key) as string | undefined;
  const imageSource = options.imageSource ?? (context('imageSource') as ImageSource | undefined) ?? 'asset';
  const synthesizer = imageSource === 'parameter' ? new BootstraplessSynthesizer() : undefined;
  // `-c existingTableName=... -c existingTableStreamArn=...`: serve a table
  // that exists (the replaced system's) instead of creating one.
  const existingTableName = context('existingTableName');
  const existingTableStreamArn = context('existingTableStreamArn');
  if ((existingTableName === undefined) !== (existingTableStreamArn === undefined)) {
    throw new Error('existingTableName and existingTableStreamArn go together');
  }
  const existingTable = options.existingTable
    ?? (existingTableName && existingTableStreamArn
      ? { tableName: existingTableName, tableStreamArn: existingTableStreamArn }
      : undefined);

  // Environment-agnostic: no account or Region is fixed at synth, so the
  // templates deploy in any Region (CloudFormation fills in AWS::Region),
  // and synth needs no credentials.
  new ServiceStack(app, SERVICE_STACK, {
    description: 'ecommerce-service on ECS Fargate with its DynamoDB table, notifications and alarms',
    frontDoor: options.frontDoor ?? (context('frontDoor') as FrontDoor | undefined) ?? 'http-api',
    imageSource,
    synthesizer,
    existingTable,
  });
  new PipelineStack(app, PIPELINE_STACK, {
    description: 'Optional delivery pipeline: source, test, image, deploy of EcommerceService',
    serviceStackName: SERVICE_STACK,
    synthesizer: new BootstraplessSynthesizer(),
  });

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}
