import type { TestProject } from 'vitest/node';
import { startLocalServices } from '../local/services.ts';

/**
 * Starts DynamoDB Local and the local S3 server once for the whole run (in memory, free ports) and
 * hands their endpoints to the test files; each file works in its own tables and buckets.
 * @param project - the vitest project the endpoints are provided to
 * @returns the teardown that stops both servers
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  const services = await startLocalServices();
  project.provide('dynamodbEndpoint', services.dynamodbEndpoint);
  project.provide('s3Endpoint', services.s3Endpoint);
  console.log(
    `local services up in ${((Date.now() - t0) / 1000).toFixed(1)} s: DynamoDB ${services.dynamodbEndpoint}, S3 ${services.s3Endpoint}`,
  );
  return () => services.stop();
}
