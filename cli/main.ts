// The command line: `npx rights-ledger <command>` (RUN.md).
import { parseArgs } from 'node:util';
import { runStart } from '../local/start.ts';
import { RECORD_KINDS } from '../schemas/records.ts';
import { runQueryCommand } from './query.ts';
import { runDownloadCommand } from './download.ts';
import { createKeyCommand, rotateKekCommand } from './keys.ts';
import { ReviewError, runReview } from './review.ts';
import { SubmitError, submitFiles } from './submit.ts';
import { formatProblem, validateFiles } from './validate.ts';

const USAGE = `usage: rights-ledger <command>

  start                                         the whole pipeline on this machine (what npm start runs)
  keys create --role contributor|editor [--name N] [--endpoint URL --key K | --table NAME [--region R]]
                                                print a new key once: in the local store, through an
                                                endpoint, or straight into a deployed table (AWS credentials;
                                                --kms-key/--kms-mac-key default to the stack's aliases)
  keys rotate-kek [--table NAME [--region R] [--kms-key K]]
                                                a new key-encryption key; every stored data key is re-wrapped
                                                under it (progress bar; run again to resume after a stop)
  validate FILE…                                check NDJSON/JSON records offline; exit 1 on any error
  submit FILE… --endpoint URL --key K           upload in batches with progress and retries
  publish --endpoint URL --key K [--full]       ask for a release now (--full: rebuild every table from the store)
                                                (--key may be left out when LEDGER_KEY holds it)
  download [--version V|latest] [--format parquet|json] --from BASE_URL --out DIR
                                                fetch a release and verify every SHA-256 and the hash chain
  query [--from BASE_URL | --dir DIR] [--version V] [--format table|csv|json] "SQL"
                                                SQL over a release with the DuckDB inside the project: each
                                                table is a view by its name; the release is downloaded and
                                                verified once (cached); --from defaults to npm start's bucket
  review --endpoint URL --key K [--kind K]      the review queue in the terminal: each pending record with
                                                its changes, coloured (NO_COLOR=1: plain); a approves,
                                                r rejects (with a note), s skips, q quits
`;

const err = (line: string) => process.stderr.write(`${line}\n`);
const out = (line: string) => process.stdout.write(`${line}\n`);

/** Parses `--name value` options (all strings here) and positionals. */
function args(argv: string[], names: Record<string, unknown>): { values: Record<string, string | undefined>; positionals: string[] } {
  const options = Object.fromEntries(Object.keys(names).map((n) => [n, { type: 'string' as const }]));
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  return { values: values as Record<string, string | undefined>, positionals };
}

/** A key from --key, or from LEDGER_KEY (keeps it out of shell history and the process list). */
function withKey(values: Record<string, string | undefined>): Record<string, string | undefined> {
  return { ...values, key: values.key ?? process.env.LEDGER_KEY };
}

function need(values: Record<string, unknown>, ...names: string[]): void {
  const missing = names.filter((n) => !values[n]);
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((m) => `--${m}`).join(', ')}`);
}

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        return await runStart();
      case 'keys': {
        const parsed = args(rest, { role: {}, name: {}, endpoint: {}, key: {}, table: {}, region: {}, 'kms-key': {}, 'kms-mac-key': {} });
        const { positionals } = parsed;
        const values = parsed.values.endpoint ? withKey(parsed.values) : parsed.values;
        const kms = { kmsKeyId: values['kms-key'], kmsMacKeyId: values['kms-mac-key'] };
        if (positionals[0] === 'rotate-kek') {
          const r = await rotateKekCommand(values.table ? { table: values.table, region: values.region, ...kms } : undefined);
          out(`${r.resumed ? 'resumed an unfinished rotation: ' : ''}${r.newKey ? 'a new master key was added; ' : ''}${r.rewrapped} of ${r.items} record items re-wrapped under ${r.kek}`);
          err('Older keys still unwrap. Run this again a few minutes later to catch items a running server wrote meanwhile (it re-wraps only those) before removing any older key.');
          return 0;
        }
        if (positionals[0] !== 'create') throw new UsageError('keys takes a subcommand: create or rotate-kek');
        need(values, 'role');
        if (values.role !== 'contributor' && values.role !== 'editor') throw new UsageError('--role is contributor or editor');
        if (Boolean(values.endpoint) !== Boolean(values.key)) throw new UsageError('--endpoint and --key go together');
        if (values.endpoint && values.table) throw new UsageError('use --endpoint or --table, not both');
        const target = values.endpoint ? { endpoint: values.endpoint, key: values.key! } : values.table ? { table: values.table, region: values.region, ...kms } : undefined;
        const made = await createKeyCommand(values.role, values.name ?? `${values.role} key`, target);
        out(`key_id: ${made.key_id}`);
        out(`key:    ${made.key}`);
        err('The key is shown only now; only its HMAC under the deployment\'s secret is stored. Keep it secret.');
        return 0;
      }
      case 'validate': {
        const { positionals } = args(rest, {});
        if (positionals.length === 0) throw new UsageError('validate needs at least one FILE');
        const report = await validateFiles(positionals);
        for (const p of report.problems) out(formatProblem(p));
        out(`${report.records} records, ${report.invalid} invalid, ${report.problems.length} errors`);
        return report.invalid > 0 ? 1 : 0;
      }
      case 'submit': {
        const parsed = args(rest, { endpoint: { type: 'string' }, key: { type: 'string' }, 'batch-size': { type: 'string' } });
        const { positionals } = parsed;
        const values = withKey(parsed.values);
        need(values, 'endpoint', 'key');
        if (positionals.length === 0) throw new UsageError('submit needs at least one FILE');
        const s = await submitFiles(positionals, { endpoint: values.endpoint!, key: values.key!, batchSize: values['batch-size'] ? Number(values['batch-size']) : undefined });
        for (const r of s.rejections) out(`${r.file}:${r.line}: ${r.id ?? '(no id)'} ${r.path || '/'} ${r.code}: ${r.message}`);
        out(`${s.created} created, ${s.updated} updated, ${s.unchanged} unchanged, ${s.rejected} rejected (${s.batches} batches, ${s.retries} retries)`);
        return s.rejected > 0 ? 1 : 0;
      }
      case 'publish': {
        const full = rest.includes('--full');
        const values = withKey(args(rest.filter((a) => a !== '--full'), { endpoint: { type: 'string' }, key: { type: 'string' } }).values);
        need(values, 'endpoint', 'key');
        const res = await fetch(`${values.endpoint!.replace(/\/$/, '')}/publish`, {
          method: 'POST',
          headers: { authorization: `Bearer ${values.key}`, ...(full ? { 'content-type': 'application/json' } : {}) },
          ...(full ? { body: JSON.stringify({ full: true }) } : {}),
        });
        const body = (await res.json()) as Record<string, unknown>;
        out(JSON.stringify(body, null, 2));
        return res.status === 200 ? 0 : 1;
      }
      case 'download':
        return await runDownloadCommand(rest);
      case 'query':
        return await runQueryCommand(rest);
      case 'review': {
        const values = withKey(args(rest, { endpoint: {}, key: {}, kind: {} }).values);
        need(values, 'endpoint', 'key');
        if (values.kind && !(RECORD_KINDS as readonly string[]).includes(values.kind)) throw new UsageError(`--kind is one of ${RECORD_KINDS.join(', ')}`);
        await runReview({ endpoint: values.endpoint!, key: values.key!, kind: values.kind, input: process.stdin, output: process.stdout });
        return 0;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof SubmitError || e instanceof ReviewError) {
      err(e.message);
      return 1;
    }
    err(`rights-ledger ${command}: ${(e as Error).message}`);
    return 1;
  }
}
