import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // The local DynamoDB and S3 servers are shared by every file; each file works in its own table and bucket.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
