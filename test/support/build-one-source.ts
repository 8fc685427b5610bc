// Builds a one-record release with the real DuckDB builder and prints its sources NDJSON line. Run in a
// child process by test/unit/release-builder.test.ts, so that the host's time zone (TZ) can be chosen.
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { flatRow } from '../../pipeline/publish/read-changes.ts';
import { TABLES } from '../../schemas/tables.ts';
import { DuckDbReleaseBuilder } from '../../storage/duckdb-release-builder.ts';

const dir = await mkdtemp(join(tmpdir(), 'ledger-tz-'));
const changes = join(dir, 'changes');
await mkdir(changes);
const source = { id: 'src-tz', kind: 'source', title: 'T\u2028line\u2029paragraph', publisher: 'P', publisher_type: 'ngo', medium: 'article', reliability: 'unknown', revision: 1, updated_at: '2026-01-03T12:00:00.123Z', first_published: null };
await writeFile(join(changes, 'sources.ndjson'), JSON.stringify(flatRow(source, TABLES.sources)) + '\n');
await writeFile(join(changes, 'touched.ndjson'), JSON.stringify({ id: 'src-tz', table_name: 'sources', reason: null }) + '\n');
for (const t of ['events', 'claims', 'persons', 'event_actors']) await writeFile(join(changes, `${t}.ndjson`), '');
const builder = await DuckDbReleaseBuilder.open({ tempDirectory: dir });
try {
  await builder.build({ version: '20260103T120000Z', full: true, carryPrevious: true, changesDir: changes, outDir: join(dir, 'out'), partRows: 10, maxDropShare: 0.01 });
} finally {
  await builder.close();
}
process.stdout.write(gunzipSync(await readFile(join(dir, 'out', 'json', 'sources.ndjson.gz'))).toString());
