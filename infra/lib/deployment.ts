// What this deployment serves, committed beside the templates: the pipeline
// deploys the committed template, so a cut-over onto the replaced system's
// table must be in the commit, not in a flag of one `cdk deploy` (README,
// "Replacing the original deployment"). `npm run synth`, `cdk synth` and
// `cdk deploy` all read this file; a `-c` flag that disagrees with it stops
// the synth, so no deploy can differ from what the pipeline will deploy.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ExistingTable } from './service-stack';

export const DEPLOYMENT_FILE = path.join(__dirname, '..', 'deployment.json');

export interface Deployment {
  /** The replaced system's table and its stream; both empty: a new table. */
  readonly existingTableName: string;
  readonly existingTableStreamArn: string;
  /** The served table's customer managed KMS key, or empty: the default
   * of the stack's TableKeyArn parameter, so every pipeline run keeps it. */
  readonly tableKeyArn?: string;
  /** A verified SES identity and From address for Cognito's mail, or
   * empty: defaults of the stack's SesIdentityArn and SesFromAddress. */
  readonly sesIdentityArn?: string;
  readonly sesFromAddress?: string;
}

const STREAM_ARN = /^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table\/([A-Za-z0-9_.-]{3,255})\/stream\/.+$/;

export function readDeployment(file: string = DEPLOYMENT_FILE): Deployment {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Deployment>;
  return {
    existingTableName: parsed.existingTableName ?? '',
    existingTableStreamArn: parsed.existingTableStreamArn ?? '',
    tableKeyArn: parsed.tableKeyArn ?? '',
    sesIdentityArn: parsed.sesIdentityArn ?? '',
    sesFromAddress: parsed.sesFromAddress ?? '',
  };
}

const KEY_ARN = /^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key\/[A-Za-z0-9-]+$/;

/** The table key the deployment grants (empty: none). */
export function tableKeyOf(deployment: Deployment): string {
  const key = deployment.tableKeyArn ?? '';
  if (!KEY_ARN.test(key)) {
    throw new Error(`deployment.json: tableKeyArn is not a KMS key ARN: ${key}`);
  }
  return key;
}

/** The table to serve instead of a new one, if the deployment names one. */
export function existingTableOf(deployment: Deployment): ExistingTable | undefined {
  const { existingTableName: tableName, existingTableStreamArn: tableStreamArn } = deployment;
  if (tableName === '' && tableStreamArn === '') return undefined;
  if (tableName === '' || tableStreamArn === '') {
    throw new Error('deployment.json: existingTableName and existingTableStreamArn go together');
  }
  const streamOf = STREAM_ARN.exec(tableStreamArn);
  if (!streamOf) {
    throw new Error(`deployment.json: existingTableStreamArn is not a DynamoDB stream ARN: ${tableStreamArn}`);
  }
  if (streamOf[1] !== tableName) {
    throw new Error(`deployment.json: the stream ${tableStreamArn} is not ${tableName}'s`);
  }
  return { tableName, tableStreamArn };
}

/** Context values (`-c name=value`) may only repeat the committed file. */
export function assertContextAgrees(deployment: Deployment, context: (key: string) => string | undefined): void {
  for (const key of ['existingTableName', 'existingTableStreamArn', 'tableKeyArn'] as const) {
    const given = context(key);
    if (given !== undefined && given !== (deployment[key] ?? '')) {
      throw new Error(
        `-c ${key}=${given} differs from infra/deployment.json (${JSON.stringify(deployment[key])}): `
        + 'the pipeline deploys what the commit says, so put it in infra/deployment.json, '
        + 'run `make infra-synth` and commit both',
      );
    }
  }
}
