/**
 * `npm run bench`: starts DynamoDB Local (in memory) and the local S3 server, runs the ingest and the
 * publish benchmarks, prints a summary of ratios against references measured in this same run, and
 * always stops the services. Environment: BENCH_N (both), BENCH_INGEST_N (default 5000),
 * BENCH_PUBLISH_N (default 20000), BENCH_ROUNDS (ingest rounds, default 3),
 * BENCH_LOADER=batch|writeRevision (how the publish bench fills the store), BENCH_ONLY=ingest|publish.
 */
import os from 'node:os';
import { startLocalServices, type LocalServices } from '../local/services.ts';
import { envInt, loadavg, mb } from './support.ts';

// One INFO line per API request would interleave with the figures; set before the handlers load.
process.env.LEDGER_LOG_LEVEL ??= 'WARN';

const started = performance.now();
const log = (line: string) => process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY;
  const ingestN = envInt('BENCH_INGEST_N', envInt('BENCH_N', 5000));
  const publishN = envInt('BENCH_PUBLISH_N', envInt('BENCH_N', 20000));
  const { runIngestBench } = await import('./ingest.ts');
  const { runPublishBench } = await import('./publish.ts');

  let services: LocalServices | undefined;
  const reports: string[] = [];
  try {
    log(`machine load average (1/5/15 min) before: ${loadavg()} on ${os.availableParallelism()} cores`);
    services = await startLocalServices({ log: (l) => log(l) });
    if (only !== 'publish') {
      log(`ingest benchmark, N=${ingestN}`);
      const r = await runIngestBench(services, { n: ingestN, rounds: envInt('BENCH_ROUNDS', 3), log });
      reports.push(r.report + `\nload average (1/5/15 min) after ingest: ${loadavg()}`);
      log(`ingest benchmark done: direct ${r.ratios.directPerRecord.toFixed(2)}× reference per record, ${r.ratios.directPerItem.toFixed(2)}× per item`);
    }
    if (only !== 'ingest') {
      log(`publish benchmark, N=${publishN}`);
      const r = await runPublishBench(services, { n: publishN, loader: process.env.BENCH_LOADER === 'writeRevision' ? 'writeRevision' : 'batch', log });
      reports.push(r.report + `\nload average (1/5/15 min) after publish: ${loadavg()}`);
      log(`publish benchmark done: publish ${r.publishSeconds.toFixed(1)} s, ${r.ratios.publishVsRefEvents.toFixed(2)}× the DuckDB events reference`);
    }
  } finally {
    if (services) {
      log('stopping the local services …');
      await services.stop();
    }
  }
  process.stdout.write(`\n==== SUMMARY (Node ${process.version}, ${((performance.now() - started) / 1000).toFixed(0)} s in all, lifetime maxRSS ${mb(process.resourceUsage().maxRSS * 1024)}, ${os.availableParallelism()} cores, load average now ${loadavg()}) ====\n\n`);
  process.stdout.write(reports.join('\n\n') + '\n');
}

main().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
