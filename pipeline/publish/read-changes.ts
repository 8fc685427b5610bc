import { join } from 'node:path';
import { KIND_TABLE, TABLES } from '../../schemas/tables.ts';
import { LineSink } from '../line-sink.ts';
import type { ChangeLog, RecordHead, RecordStore } from '../ports.ts';
import { publicRecord } from '../redact.ts';

/** How far back a full rebuild re-reads marked heads from the table itself (the heads index may lag). */
export const INDEX_LAG_MARGIN_MS = 5 * 60_000;
const CHUNK = 500;

/** Flattens a published record into a table row: columns named and typed by the table definition. */
export function flatRow(rec: Record<string, unknown>, table: { columns: ReadonlyArray<{ name: string; source: string[] }> }): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const c of table.columns) {
    let v: unknown = rec;
    for (const key of c.source) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
    row[c.name] = v ?? null;
  }
  return row;
}

/** Files for the build step (see BuildInput.changesDir), written record by record. */
class ChangeFiles {
  private readonly sinks = new Map<string, LineSink>();
  touched = 0;
  constructor(private readonly dir: string) {
    for (const t of ['sources', 'events', 'claims', 'persons', 'event_actors', 'touched']) this.sinks.set(t, LineSink.plain(join(dir, `${t}.ndjson`)));
  }

  async add(head: RecordHead): Promise<void> {
    const table = KIND_TABLE[head.kind];
    if (head.retracted) {
      this.touched++;
      await this.sinks.get('touched')!.write(JSON.stringify({ id: head.id, table_name: table, reason: head.retraction?.reason ?? 'retracted' }));
      return;
    }
    // first_published is filled in by the build, from the previous release's row.
    const pub = publicRecord(head, null);
    if (!pub) return; // never approved: not part of any release
    this.touched++;
    await this.sinks.get('touched')!.write(JSON.stringify({ id: head.id, table_name: table, reason: null }));
    await this.sinks.get(table)!.write(JSON.stringify(flatRow(pub, TABLES[table])));
    if (head.kind === 'event') {
      for (const [pos, actor] of ((pub.actors as object[] | undefined) ?? []).entries()) {
        await this.sinks.get('event_actors')!.write(JSON.stringify({ ...flatRow({ event_id: head.id, ...actor }, TABLES.event_actors), __pos: pos }));
      }
    }
  }

  close(): Promise<unknown> {
    return Promise.all([...this.sinks.values()].map((s) => s.close()));
  }
}

export interface ReadChangesInput {
  records: RecordStore;
  changes: ChangeLog;
  dir: string;
  /** Marks in (after, cut] are read; with `full`, every head instead (and marks near the cut, from the table). */
  after: number;
  cut: number;
  full: boolean;
  scanSegments: number;
  progress: (message: string) => void;
}

/**
 * The read step: writes the public rows of every record whose published state may have changed since
 * the last release: the marked ones and the ones deferred before (incrementally: read by id, strongly
 * consistent), or every head (full rebuild). Returns the ids that were deferred before.
 */
export async function readChanges(input: ReadChangesInput): Promise<{ touched: number; previouslyDeferred: string[]; previouslyHeld: Set<string> }> {
  const files = new ChangeFiles(input.dir);
  const previouslyDeferred: string[] = [];
  const previouslyHeld = new Set<string>();
  for await (const page of input.changes.listDeferred()) {
    for (const d of page) {
      previouslyDeferred.push(d.id);
      if (d.held) previouslyHeld.add(d.id);
    }
  }
  try {
    // The ids to read by id from the table: marks (all of them incrementally; near the cut for a full rebuild).
    const ids = new Set<string>(previouslyDeferred);
    // A full rebuild reads heads from an index that may lag: every head marked since the last release (or
    // at least in the last minutes) is read from the table itself.
    const from = input.full ? Math.max(0, Math.min(input.after, input.cut - INDEX_LAG_MARGIN_MS)) : input.after;
    for await (const marks of input.changes.read(from, input.cut)) for (const m of marks) ids.add(m.id);
    if (input.full) {
      let scanned = 0;
      for await (const page of input.records.scanHeads(input.scanSegments)) {
        for (const head of page) if (!ids.has(head.id)) await files.add(head);
        scanned += page.length;
        input.progress(`read ${scanned} records`);
      }
    }
    const list = [...ids];
    for (let i = 0; i < list.length; i += CHUNK) {
      const heads = await input.records.getHeads(list.slice(i, i + CHUNK));
      for (const head of heads.values()) await files.add(head);
      if (!input.full) input.progress(`read ${Math.min(i + CHUNK, list.length)} of ${list.length} changed records`);
    }
  } finally {
    await files.close();
  }
  return { touched: files.touched, previouslyDeferred, previouslyHeld };
}
