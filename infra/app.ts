// `npx cdk synth|deploy` → the stateful and stateless stacks. Synth works offline with no credentials.
import { App } from 'aws-cdk-lib';
import { createLedger } from './ledger.ts';

const app = new App();
// Always an explicit region: `-c region=…` first, else the CLI's (which is us-east-1 when no AWS config
// names one), else eu-west-1 (when the app runs outside the CLI). The account only when known.
const region = (app.node.tryGetContext('region') as string | undefined) ?? process.env.CDK_DEFAULT_REGION ?? 'eu-west-1';
createLedger(app, { account: process.env.CDK_DEFAULT_ACCOUNT, region });
app.synth();
