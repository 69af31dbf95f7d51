/** Names the service reads from its environment (see src/config.rs). */
export const SHUTDOWN_TIMEOUT_SECONDS = 20;
export const CONTAINER_PORT = 8080;
/** The namespace of the service's EMF metrics (src/telemetry/metrics.rs) and its error-line filter. */
export const SERVICE_NAMESPACE = 'EcommerceService';

/** How clients reach the service. */
export type FrontDoor =
  /** API Gateway HTTP API → VPC link → internal ALB (default). */
  | 'http-api'
  /** An internet-facing ALB with HTTPS (a `CertificateArn` parameter). */
  | 'public-alb';

/** Where the container image comes from. */
export type ImageSource =
  /** Built from the repository's Dockerfile by `cdk deploy` (an image asset). */
  | 'asset'
  /** `ImageRepository` and `ImageTag` template parameters (an ECR repository
   * in the stack's account and region): what the committed templates and
   * the pipeline use. */
  | 'parameter';

/** One task's size (Fargate, ARM64). */
export const TASK_CPU_UNITS = 512;
export const TASK_MEMORY_MIB = 1024;

/** CPU utilisation the service scales to keep. */
export const TARGET_CPU_PERCENT = 60;

/**
 * Service CPU per API call of the benchmark's mix (70 % reads, 20 %
 * placements, 10 % status moves) on the DynamoDB engine, in milliseconds of
 * one core: the mix-weighted DynamoDB column of BENCHMARKS.md ("The
 * production engine's cost per call"), measured against a fake DynamoDB
 * that keeps connections open. Not in it: TLS to DynamoDB, and the ratio of a
 * Graviton vCPU to a core of the benchmark machine (taken as 1); the CPU
 * policy is the guard if this proves optimistic.
 */
export const MIX_CPU_MS_PER_REQUEST = 0.155;

/** Requests per second one task serves at the target CPU: its vCPUs at the
 * target utilisation, divided by the CPU one request costs. */
export function taskCapacityPerSecond(): number {
  const vcpu = TASK_CPU_UNITS / 1024;
  return Math.floor((vcpu * (TARGET_CPU_PERCENT / 100) * 1000) / MIX_CPU_MS_PER_REQUEST);
}

/**
 * `ALBRequestCountPerTarget` is the number of requests per target per
 * minute (the metric is a one-minute sum; "Target tracking scaling
 * policies for Application Auto Scaling"), so a per-second capacity is
 * multiplied by 60.
 */
export function requestsPerTargetPerMinute(): number {
  return taskCapacityPerSecond() * 60;
}
