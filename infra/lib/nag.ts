import { Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/** Acknowledges a cdk-nag AwsSolutions finding on `scope` (and its
 * children), with the reason a reviewer needs. `rule` is e.g. `IAM5` or
 * `IAM5[Resource::*]` for a single finding. */
export function acknowledge(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${rule}`, reason });
}
