/**
 * Stands in for `@duckdb/node-api` in the Lambda functions that never write Parquet (see
 * lambda-bundling.ts `apiBundling`). An import of anything else from DuckDB fails the bundle at synth.
 */
export class DuckDBInstance {
  static create(): Promise<never> {
    return Promise.reject(new Error('DuckDB is bundled only with the publisher'));
  }
}
