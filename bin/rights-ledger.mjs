#!/usr/bin/env node
// Runs the TypeScript CLI directly (tsx), so a clone needs no build step.
import { register } from 'tsx/esm/api';

// The AWS SDK's notice that releases after January 2027 need Node 22 is in the README, not on every run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
