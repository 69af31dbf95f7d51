// Synthesizes the app for the tests (with cdk-nag: a failing rule fails the
// file) and reads CloudFormation expressions back as text.
import { strict as assert } from 'node:assert';
import { Template } from 'aws-cdk-lib/assertions';
import { AppOptions, buildApp, PIPELINE_STACK, SERVICE_STACK } from '../lib/app';

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Synthesized {
  service: Json;
  pipeline: Json;
}

export function synth(options: AppOptions = {}): Synthesized {
  const assembly = buildApp({ imageSource: 'parameter', ...options }).synth();
  return {
    service: assembly.getStackByName(SERVICE_STACK).template,
    pipeline: assembly.getStackByName(PIPELINE_STACK).template,
  };
}

export function template(json: Json): Template {
  return Template.fromJSON(json);
}

/** The resources of one type, by logical id. */
export function resources(json: Json, type: string): [string, Json][] {
  return Object.entries(json.Resources as Record<string, Json>).filter(([, r]) => r.Type === type);
}

export function only(json: Json, type: string, filter: (id: string) => boolean = () => true): [string, Json] {
  const found = resources(json, type).filter(([id]) => filter(id));
  assert.equal(found.length, 1, `exactly one ${type}`);
  return found[0];
}

/** An expression as text, with references written `${Name}` (pseudo
 * parameters, parameters and resources alike), so two expressions that
 * build the same value compare equal. */
export function render(expression: Json): string {
  if (typeof expression === 'string') return expression;
  if (typeof expression === 'number') return String(expression);
  if (expression?.Ref) return `\${${expression.Ref}}`;
  if (expression?.['Fn::GetAtt']) return `\${${[expression['Fn::GetAtt']].flat().join('.')}}`;
  if (expression?.['Fn::Join']) {
    const [separator, parts] = expression['Fn::Join'];
    return (parts as Json[]).map(render).join(separator);
  }
  if (expression?.['Fn::Sub']) {
    const body = [expression['Fn::Sub']].flat()[0] as string;
    return body.replace(/\$\{AWS::([A-Za-z]+)\}/g, '${AWS::$1}');
  }
  return JSON.stringify(expression);
}

/** The statements of every IAM policy attached to the role `roleId`. */
export function roleStatements(json: Json, roleId: string): Json[] {
  return resources(json, 'AWS::IAM::Policy')
    .filter(([, policy]) => (policy.Properties.Roles ?? []).some((role: Json) => role.Ref === roleId))
    .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement);
}

export function actionsOf(statement: Json): string[] {
  return [statement.Action].flat();
}

export function servicePrincipals(statement: Json): string[] {
  return [statement.Principal?.Service ?? []].flat().map(render);
}
