import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // The local DynamoDB and S3 servers are shared by every file; each file works in its own table and bucket.
    pool: 'forks',
    // Request logs only at WARN in tests; the SDK's Node 22 notice once per worker is noise here (see README).
    env: { LEDGER_LOG_LEVEL: 'WARN', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
