// `rights-ledger review`: the review queue in the terminal (RUN.md). A pure core (keys in, decisions
// out; a record and its patch in, text out) and a thin loop that reads keys and talks to the endpoint.
import type { ListRecordsResult, ListedRecord, PatchOperation } from '../schemas/api.ts';

/** What a key press decided about the record on screen, sent with the revision that was shown. */
export interface ReviewRequest {
  path: string;
  body: { decision: 'approve' | 'reject'; revision: number; note?: string };
}

/** Where the session is: which record is on screen and, while a rejection's note is typed, the note so far. */
export interface ReviewSession {
  items: ListedRecord[];
  index: number;
  note?: string;
  quit: boolean;
}

export type ReviewEvent =
  | { type: 'decide'; item: ListedRecord; request: ReviewRequest }
  | { type: 'skip'; item: ListedRecord }
  | { type: 'ask_note'; item: ListedRecord }
  | { type: 'note'; text: string }
  | { type: 'back' }
  | { type: 'quit' };

const ENTER = new Set(['\r', '\n']);
const BACKSPACE = new Set(['\x7f', '\b']);
const ESCAPE = '\x1b';
const CTRL_C = '\x03';

export const startSession = (items: ListedRecord[]): ReviewSession => ({ items, index: 0, quit: false });

const requestFor = (item: ListedRecord, decision: 'approve' | 'reject', note?: string): ReviewRequest => ({
  path: `/records/${encodeURIComponent(item.kind)}/${encodeURIComponent(item.id)}/review`,
  body: { decision, revision: item.revision, ...(note ? { note } : {}) },
});

/**
 * One key press: `a` approves the record on screen, `r` asks for a note (typed, Enter sends the
 * rejection, Escape goes back), `s` skips, `q` or Ctrl-C ends. Other keys do nothing.
 * @returns the next session and what happened, for the loop to act on
 */
export function pressKey(session: ReviewSession, key: string): { session: ReviewSession; events: ReviewEvent[] } {
  const item = session.items[session.index];
  if (session.quit || key === CTRL_C) return { session: { ...session, quit: true, note: undefined }, events: session.quit ? [] : [{ type: 'quit' }] };
  if (!item) return { session, events: [] };
  if (session.note !== undefined) {
    if (ENTER.has(key)) {
      const note = session.note.trim();
      return { session: { ...session, index: session.index + 1, note: undefined }, events: [{ type: 'decide', item, request: requestFor(item, 'reject', note || undefined) }] };
    }
    if (key === ESCAPE) return { session: { ...session, note: undefined }, events: [{ type: 'back' }] };
    const text = BACKSPACE.has(key) ? [...session.note].slice(0, -1).join('') : key >= ' ' ? session.note + key : session.note;
    return { session: { ...session, note: text.slice(0, 1000) }, events: [{ type: 'note', text }] };
  }
  switch (key.toLowerCase()) {
    case 'a':
      return { session: { ...session, index: session.index + 1 }, events: [{ type: 'decide', item, request: requestFor(item, 'approve') }] };
    case 'r':
      return { session: { ...session, note: '' }, events: [{ type: 'ask_note', item }] };
    case 's':
      return { session: { ...session, index: session.index + 1 }, events: [{ type: 'skip', item }] };
    case 'q':
      return { session: { ...session, quit: true }, events: [{ type: 'quit' }] };
    default:
      return { session, events: [] };
  }
}

/** The requests a sequence of key presses makes over these records (the loop without a terminal). */
export function requestsFor(items: ListedRecord[], keys: Iterable<string>): ReviewRequest[] {
  let session = startSession(items);
  const out: ReviewRequest[] = [];
  for (const key of keys) {
    const step = pressKey(session, key);
    session = step.session;
    for (const e of step.events) if (e.type === 'decide') out.push(e.request);
  }
  return out;
}

/** Splits what a terminal sent at once into key presses (escape sequences such as arrows are one key). */
export function splitKeys(chunk: string): string[] {
  return chunk.match(/\x1b\[[0-9;]*[A-Za-z~]|\x1b.|[\s\S]/gu) ?? [];
}

/** ANSI colours, or none (NO_COLOR set, or not a terminal). */
export interface Palette {
  add(s: string): string;
  remove(s: string): string;
  replace(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const ansi = (code: number) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
export const COLOURS: Palette = { add: ansi(32), remove: ansi(31), replace: ansi(33), dim: ansi(2), bold: ansi(1) };
export const PLAIN: Palette = { add: (s) => s, remove: (s) => s, replace: (s) => s, dim: (s) => s, bold: (s) => s };

/** Colour unless NO_COLOR is set to anything (no-color.org) or the output is not a terminal. */
export const paletteFor = (env: NodeJS.ProcessEnv, isTTY: boolean): Palette => (isTTY && !env.NO_COLOR ? COLOURS : PLAIN);

/** Text from the server, shown without the control characters a terminal would obey. */
const safe = (s: string) => s.replace(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g, '?');

function operationLine(op: PatchOperation, p: Palette): string {
  const value = op.value === undefined ? '' : ` ${safe(JSON.stringify(op.value))}`;
  switch (op.op) {
    case 'add':
      return p.add(`+ ${safe(op.path)}${value}`);
    case 'remove':
      return p.remove(`- ${safe(op.path)}`);
    case 'replace':
      return p.replace(`~ ${safe(op.path)}${value}`);
    default:
      return `${op.op} ${safe(op.path)}${op.from ? ` from ${safe(op.from)}` : ''}${value}`;
  }
}

/** One record of the queue as the terminal shows it: what it is, then its patch, one operation a line. */
export function renderItem(item: ListedRecord, position: { index: number; total: number | '?' }, p: Palette): string {
  const against = item.approved_revision === null ? 'nothing approved yet' : `approved revision ${item.approved_revision}`;
  const lines = [
    p.bold(`${position.index + 1}/${position.total}  ${item.kind} ${safe(item.id)}  revision ${item.revision}`),
    p.dim(`  ${item.submitted_by ? `by ${safe(item.submitted_by)}, ` : ''}${safe(item.updated_at)}; changes against ${against}:`),
    ...(item.patch.length === 0 ? [p.dim('  (no change)')] : item.patch.map((op) => `  ${operationLine(op, p)}`)),
  ];
  return lines.join('\n');
}

export const PROMPT = '[a]pprove  [r]eject  [s]kip  [q]uit';

export interface ReviewOptions {
  endpoint: string;
  key: string;
  kind?: string;
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
  /** Records asked for per page of the queue. */
  pageSize?: number;
}

export interface ReviewSummary {
  approved: number;
  rejected: number;
  skipped: number;
  failed: number;
}

async function api(opts: ReviewOptions, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${opts.endpoint.replace(/\/$/, '')}${path}`, {
    method,
    headers: { authorization: `Bearer ${opts.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { detail: text.slice(0, 300) };
  }
  return { status: res.status, body: parsed };
}

export class ReviewError extends Error {
  override name = 'ReviewError';
}

/**
 * The interactive review: pages through the pending queue (oldest first), shows each record with its
 * patch and acts on one key at a time; every decision is sent at once with the revision shown, so a
 * record that changed meanwhile is refused (409) and left for a later look.
 */
export async function runReview(opts: ReviewOptions): Promise<ReviewSummary> {
  const out = (s: string) => opts.output.write(`${s}\n`);
  const palette = paletteFor(opts.env ?? process.env, Boolean(opts.output.isTTY));
  if (!opts.input.isTTY) throw new ReviewError('review reads one key at a time: run it in a terminal');
  const query = (cursor: string | null) => `/records?status=pending&limit=${opts.pageSize ?? 100}${opts.kind ? `&kind=${encodeURIComponent(opts.kind)}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
  const fetchPage = async (cursor: string | null): Promise<ListRecordsResult> => {
    const r = await api(opts, 'GET', query(cursor));
    if (r.status !== 200) throw new ReviewError(`the queue could not be read (${r.status}): ${r.body?.detail ?? ''}${r.status === 401 ? ' (check --key)' : ''}`);
    return r.body as ListRecordsResult;
  };
  let page = await fetchPage(null);
  let session = startSession(page.items);
  const summary: ReviewSummary = { approved: 0, rejected: 0, skipped: 0, failed: 0 };
  const total = () => (page.next_cursor ? '?' : session.items.length);
  const show = async (): Promise<boolean> => {
    if (session.index >= session.items.length && page.next_cursor) {
      page = await fetchPage(page.next_cursor);
      session = { ...session, items: [...session.items, ...page.items] };
    }
    const item = session.items[session.index];
    if (!item) return false;
    out('');
    out(renderItem(item, { index: session.index, total: total() }, palette));
    opts.output.write(`${PROMPT} `);
    return true;
  };
  if (session.items.length === 0) {
    out(`nothing waits for review${opts.kind ? ` among ${opts.kind} records` : ''}.`);
    return summary;
  }

  opts.input.setRawMode(true);
  opts.input.resume();
  opts.input.setEncoding('utf8');
  try {
    if (!(await show())) return summary;
    const keys: string[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const onData = (chunk: string) => {
      keys.push(...splitKeys(chunk));
      wake?.();
    };
    const onEnd = () => {
      ended = true;
      wake?.();
    };
    opts.input.on('data', onData);
    opts.input.on('end', onEnd);
    try {
      for (;;) {
        if (keys.length === 0) {
          if (ended) break;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        const step = pressKey(session, keys.shift()!);
        session = step.session;
        let next = false;
        for (const e of step.events) {
          if (e.type === 'ask_note') opts.output.write(`\n  note (Enter sends the rejection, Esc goes back): `);
          else if (e.type === 'note') opts.output.write(`\r\x1b[2K  note (Enter sends the rejection, Esc goes back): ${safe(e.text)}`);
          else if (e.type === 'back') opts.output.write(`\n${PROMPT} `);
          else if (e.type === 'skip') {
            summary.skipped++;
            out('\n  skipped');
            next = true;
          } else if (e.type === 'decide') {
            const r = await api(opts, 'POST', e.request.path, e.request.body);
            if (r.status === 200) {
              summary[e.request.body.decision === 'approve' ? 'approved' : 'rejected']++;
              out(`\n  ${e.request.body.decision === 'approve' ? palette.add('approved') : palette.remove('rejected')} revision ${e.request.body.revision}`);
            } else {
              summary.failed++;
              const why = r.body?.code === 'revision_conflict' ? 'it changed since it was shown: look again later' : `${r.status} ${r.body?.code ?? ''}: ${r.body?.detail ?? ''}`;
              out(`\n  ${palette.remove('not decided')}: ${safe(why)}`);
            }
            next = true;
          } else if (e.type === 'quit') out('');
        }
        if (session.quit) break;
        if (next && !(await show())) break;
      }
    } finally {
      opts.input.off('data', onData);
      opts.input.off('end', onEnd);
    }
  } finally {
    opts.input.setRawMode(false);
    opts.input.pause();
  }
  out(`${summary.approved} approved, ${summary.rejected} rejected, ${summary.skipped} skipped, ${summary.failed} not decided`);
  return summary;
}
