import type { App, Environment } from 'aws-cdk-lib';
import { z } from 'zod';
import { REVIEW_POLICIES } from '../pipeline/ports.ts';
import { StatefulStack } from './stateful-stack.ts';
import { StatelessStack } from './stateless-stack.ts';

/** Settings from CDK context (cdk.json, or `-c key=value` on the command line, which arrives as text). */
const Settings = z.object({
  // Bucket names end in -athena-results-<account>-<region>: at most 20 characters leave room for them.
  namePrefix: z.string().regex(/^[a-z][a-z0-9-]{1,19}$/, 'namePrefix: 2–20 lower-case letters, digits or hyphens').default('rights-ledger'),
  datasetName: z.string().regex(/^[a-z0-9._-]+$/, 'datasetName: lower-case letters, digits, ".", "_" or "-"').default('rights-ledger'),
  maxDropShare: z.coerce.number().min(0).max(1).default(0.01),
  publishIntervalMinutes: z.coerce.number().int().min(1).max(10_080).default(60),
  // The default of the stateless stack's ReviewPolicy parameter (`cdk deploy --parameters …` overrides it).
  // Hours without a successful publish run (with or without a new release) before an alarm; at least two intervals.
  publishAlarmHours: z.coerce.number().int().min(1).max(168).default(6),
  reviewPolicy: z.enum(REVIEW_POLICIES, { message: `reviewPolicy: ${REVIEW_POLICIES.join(' or ')}` }).default('single'),
});
export type LedgerSettings = z.infer<typeof Settings>;

export function settingsFromContext(app: App): LedgerSettings {
  const raw = Object.fromEntries(Object.keys(Settings.shape).map((k) => [k, app.node.tryGetContext(k)]));
  const parsed = Settings.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new Error(`cdk context: ${first.path.join('.')}: ${first.message}`);
  }
  return parsed.data;
}

/** Both stacks of one deployment, in one account and region; the stateless one reads the stateful one's names. */
export function createLedger(app: App, env: Environment): { stateful: StatefulStack; stateless: StatelessStack } {
  const settings = settingsFromContext(app);
  const tags = { project: 'rights-ledger', deployment: settings.namePrefix };
  const stateful = new StatefulStack(app, 'Stateful', {
    env,
    tags,
    stackName: `${settings.namePrefix}-stateful`,
    description: 'rights-ledger data that outlives deployments: the DynamoDB table, the public bucket, the Athena results bucket',
    namePrefix: settings.namePrefix,
  });
  const stateless = new StatelessStack(app, 'Stateless', {
    env,
    tags,
    stackName: `${settings.namePrefix}-stateless`,
    description: 'rights-ledger functions, API, publish schedule, Glue tables and Athena workgroup',
    storage: stateful.storage,
    namePrefix: settings.namePrefix,
    datasetName: settings.datasetName,
    maxDropShare: settings.maxDropShare,
    publishIntervalMinutes: settings.publishIntervalMinutes,
    reviewPolicy: settings.reviewPolicy,
    publishAlarmHours: settings.publishAlarmHours,
  });
  // No reference ties them (plain names), so state the order: the table and bucket exist first.
  stateless.addStackDependency(stateful);
  return { stateful, stateless };
}
