import { App, AppProps, BootstraplessSynthesizer, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FrontDoor, ImageSource } from './config';
import { PipelineStack } from './pipeline-stack';
import { ServiceStack } from './service-stack';

export const SERVICE_STACK = 'EcommerceService';
export const PIPELINE_STACK = 'EcommerceServicePipeline';
/** Where the original system ran. Deploy elsewhere with `-c region=...`. */
export const DEFAULT_REGION = 'us-east-1';

export interface AppOptions extends AppProps {
  readonly frontDoor?: FrontDoor;
  readonly imageSource?: ImageSource;
  readonly region?: string;
}

/** The whole app, checked by cdk-nag. With `imageSource: 'parameter'` the
 * stacks need neither assets nor CDK bootstrapping, so their templates
 * deploy with plain `aws cloudformation deploy`. */
export function buildApp(options: AppOptions = {}): App {
  const app = new App(options);
  const context = (key: string) => app.node.tryGetContext(key) as string | undefined;
  const imageSource = options.imageSource ?? (context('imageSource') as ImageSource | undefined) ?? 'asset';
  const synthesizer = imageSource === 'parameter' ? new BootstraplessSynthesizer() : undefined;
  // The region is needed for ALB access logs (each region's log-delivery
  // account); the account is never needed, and nothing is looked up.
  const env = { region: options.region ?? context('region') ?? DEFAULT_REGION };

  // Environment-agnostic: no account or region lookups, so synth needs no credentials.
  new ServiceStack(app, SERVICE_STACK, {
    description: 'ecommerce-service on ECS Fargate with its DynamoDB table, notifications and alarms',
    frontDoor: options.frontDoor ?? (context('frontDoor') as FrontDoor | undefined) ?? 'http-api',
    imageSource,
    synthesizer,
    env,
  });
  new PipelineStack(app, PIPELINE_STACK, {
    description: 'Optional delivery pipeline: source, test, image, deploy of EcommerceService',
    serviceStackName: SERVICE_STACK,
    synthesizer: new BootstraplessSynthesizer(),
    env,
  });

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
}
