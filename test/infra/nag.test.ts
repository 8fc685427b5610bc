// cdk-nag's AwsSolutions pack over both stacks (issue 9): every finding is fixed or acknowledged with
// a reason in infra/nag-acknowledgements.ts. No bundling: the checks read the templates only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { createLedger } from '../../infra/ledger.ts';

const ENV = { account: '123456789012', region: 'eu-west-1' };
const dirs: string[] = [];
const checkedApp = () => {
  const outdir = mkdtempSync(join(tmpdir(), 'ledger-nag-'));
  dirs.push(outdir);
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return app;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in either stack', () => {
    const app = checkedApp();
    createLedger(app, ENV);
    expect(() => app.synth()).not.toThrow();
  }, 120_000);
  it('finds nothing unacknowledged when the account is not known at synth (`cdk synth` without credentials)', () => {
    const app = checkedApp();
    createLedger(app, { region: 'eu-west-1' });
    expect(() => app.synth()).not.toThrow();
  }, 120_000);
  it('does run: an unencrypted queue without a DLQ in the same app fails the synth', () => {
    const app = checkedApp();
    createLedger(app, ENV);
    new sqs.Queue(new Stack(app, 'Careless', { env: ENV }), 'Q', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS2/);
  }, 120_000);
});
