/** Names the service reads from its environment (see src/config.rs). */
export const SHUTDOWN_TIMEOUT_SECONDS = 20;
export const CONTAINER_PORT = 8080;

/** How clients reach the service. */
export type FrontDoor =
  /** API Gateway HTTP API → VPC link → internal ALB (default). */
  | 'http-api'
  /** An internet-facing ALB. */
  | 'public-alb';

/** Where the container image comes from. */
export type ImageSource =
  /** Built from the repository's Dockerfile by `cdk deploy` (an image asset). */
  | 'asset'
  /** An `ImageUri` template parameter: what the committed templates and the pipeline use. */
  | 'parameter';
