// Synthesizes the committed CloudFormation templates (image as a parameter,
// no bootstrapping needed) and writes them to cloudformation/, or with
// `--check` fails when the committed ones are stale.
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildApp, PIPELINE_STACK, SERVICE_STACK } from '../lib/app';

const check = process.argv.includes('--check');
// The templates come from infra/deployment.json alone: a flag here would
// make a template the pipeline's next run undoes.
const unknown = process.argv.slice(2).filter((arg) => arg !== '--check');
if (unknown.length > 0) {
  console.error(`unknown arguments ${unknown.join(' ')}: what the templates deploy is in infra/deployment.json`);
  process.exit(2);
}
const outdir = mkdtempSync(path.join(tmpdir(), 'cdk-out-'));
const assembly = buildApp({ imageSource: 'parameter', outdir }).synth();
const target = path.join(__dirname, '..', 'cloudformation');
mkdirSync(target, { recursive: true });

let stale = 0;
for (const name of [SERVICE_STACK, PIPELINE_STACK]) {
  const text = `${JSON.stringify(assembly.getStackByName(name).template, null, 1)}\n`;
  const file = path.join(target, `${name}.template.json`);
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(file, 'utf8');
    } catch {
      // A missing file is stale.
    }
    if (committed !== text) {
      console.error(`${path.relative(process.cwd(), file)} is stale: run \`npm run synth\` in infra/ and commit it`);
      stale += 1;
    }
  } else {
    writeFileSync(file, text);
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
process.exit(stale === 0 ? 0 : 1);
