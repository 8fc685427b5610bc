import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, GetCommand, QueryCommand, ScanCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { AuditEntry, GroupWriteOutcome, HeadListQuery, HeadPage, ListStatus, RecordHead, RecordListing, RecordStore, RevisionEntry, RevisionWrite, WriteOptions } from '../pipeline/ports.ts';
import { InvalidCursorError, MARK_RETENTION_MS } from '../pipeline/ports.ts';
import { RECORD_KINDS } from '../schemas/records.ts';
import { HEAD_SHARDS, KEY_DESIGN, TABLE_SHAPE, keys, shardOf } from './dynamodb-table.ts';

type Item = Record<string, unknown>;
type TransactItem = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];

type Listed = Exclude<ListStatus, 'any'>;

/** The status a head is listed under: `retracted` whatever its review status, else its review status. */
const listedStatus = (h: RecordHead): Listed => (h.retracted ? 'retracted' : h.review_status);

/** Where a head sits in the review queue index (see dynamodb-table.ts). */
function queueKeys(h: RecordHead): { queue_pk: string; queue_sk: string } {
  const status = listedStatus(h);
  return { queue_pk: `Q#${status}#${h.kind}`, queue_sk: status === 'pending' ? `${h.pending_since ?? h.updated_at}#${h.id}` : h.id };
}

const byPartition = (keyId: string, status: Listed, kind: string) => `BY#${keyId}#${status}#${kind}`;

/** The `by` index entry of one submitter of a record: in the same position as the head in the queue. */
function submitterItem(h: RecordHead, keyId: string): Item {
  return { ...keys.submitter(h.id, keyId), id: h.id, kind: h.kind, key_id: keyId, by_pk: byPartition(keyId, listedStatus(h), h.kind), by_sk: queueKeys(h).queue_sk };
}

/**
 * The `by` entries a write of `next` must put: every submitter's when the head moves in the queue
 * (status, kind or waiting time changed, or the previous head is unknown), else only the new submitters'.
 */
function submitterItems(next: RecordHead, previous: RecordHead | undefined): Item[] {
  const q = queueKeys(next);
  const p = previous && queueKeys(previous);
  const moved = !p || p.queue_pk !== q.queue_pk || p.queue_sk !== q.queue_sk;
  const keyIds = moved || !previous ? next.submitters : next.submitters.filter((k) => !previous.submitters.includes(k));
  return keyIds.map((k) => submitterItem(next, k));
}

/** TransactWriteItems takes 100 actions: head, entry, mark and fence leave room for this many `by` entries. */
const SUBMITTERS_IN_TRANSACTION = 90;

/** Actions one TransactWriteItems takes (DynamoDB's limit). */
const TRANSACTION_ACTIONS = 100;
/**
 * Bytes of items one group transaction may carry: DynamoDB takes 4 MB; items are measured here as
 * their JSON text ({@link approxBytes}), which can differ a little from DynamoDB's own count.
 */
const TRANSACTION_BYTES = 3_500_000;

/** An item's size near enough for packing transactions: its JSON text in UTF-8 bytes. */
const approxBytes = (item: Item) => Buffer.byteLength(JSON.stringify(item));

/** Waits a little, longer with each attempt and jittered, so that writers that collided spread out. */
const backOff = (attempt: number) => new Promise((r) => setTimeout(r, Math.min(200, 5 * 2 ** attempt) * (0.5 + Math.random())));

/** One record's part of a group transaction (see writeRevisions). */
interface GroupMember {
  /** Its position in the writes handed in. */
  at: number;
  id: string;
  /** The head item; its `first_public_at` is set at each send when `stamp`. */
  head: Item;
  stamp: boolean;
  /** Head (first, with its condition), revision and the `by` entries that fit. */
  own: TransactItem[];
  /** `by` entries past what a transaction takes: written just after it. */
  later: Item[];
  mark: boolean;
}

/** Which statuses each listing walks, group after group; the partitions of one group are merged. */
const LIST_GROUPS: Record<ListStatus, Listed[][]> = {
  pending: [['pending']],
  approved: [['approved']],
  rejected: [['rejected']],
  retracted: [['retracted']],
  any: [['pending'], ['approved', 'rejected', 'retracted']],
};

/** A cursor: the query it belongs to (a hash), the group and the last sort key listed in it. */
const Cursor = z.strictObject({ v: z.literal(1), q: z.string(), g: z.int().min(0), a: z.string().max(2048).nullable() });
type Cursor = z.infer<typeof Cursor>;

const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url');

function decodeCursor(text: string): Cursor {
  if (text.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(text)) throw new InvalidCursorError('the cursor is not one this listing made');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('the cursor is not one this listing made');
  }
  const parsed = Cursor.safeParse(value);
  if (!parsed.success) throw new InvalidCursorError('the cursor is not one this listing made');
  return parsed.data;
}

const queryFingerprint = (q: HeadListQuery) => createHash('sha256').update(JSON.stringify([q.status, q.kind ?? null, q.submittedBy ?? null])).digest('base64url').slice(0, 16);

/** Contents are kept as JSON strings: exact numbers, no empty-string or nesting limits, one attribute. */
function headToItem(h: RecordHead): Item {
  // first_published is not stored on the head: it is a fact about a release, kept beside it (ChangeLog).
  const { content, approved, first_published: _fp, ...rest } = h;
  return {
    ...keys.head(h.id),
    ...rest,
    heads_pk: `H#${shardOf(h.id, HEAD_SHARDS)}`,
    ...queueKeys(h),
    key_design: KEY_DESIGN,
    content: JSON.stringify(content),
    approved: approved === undefined ? undefined : JSON.stringify(approved),
  };
}

function itemToHead(item: Item): RecordHead {
  const { pk: _pk, sk: _sk, heads_pk: _h, queue_pk: _q, queue_sk: _qs, key_design: _kd, first_published: _fp, content, approved, ...rest } = item;
  return { ...(rest as Omit<RecordHead, 'content' | 'approved'>), content: JSON.parse(content as string), approved: approved === undefined ? undefined : JSON.parse(approved as string) };
}

/**
 * The head's item with its `first_public_at` kept from the head it replaces (see firstPublic), and what a
 * marking write must still do about it: `stamp` it with the mark's time (the write first makes the
 * record publishable), or decide on the fence whether a retraction came before any release could
 * hold it (`retractedAfter`: the time the record became publishable).
 */
function firstPublicItem(head: RecordHead, previous: RecordHead | undefined, mark: boolean): { item: Item; stamp: boolean; retractedAfter?: number } {
  const kept = head.first_public_at ?? previous?.first_public_at;
  const item = headToItem({ ...head, first_public_at: kept });
  if (!mark) return { item, stamp: false };
  if (kept === undefined) return { item, stamp: head.approved_revision !== undefined && !head.retracted };
  return head.retracted && kept >= 0 ? { item, stamp: false, retractedAfter: kept } : { item, stamp: false };
}

/** How often a transaction is tried again when it lost a race on the fence or met a concurrent transaction. */
const FENCE_ATTEMPTS = 20;

/**
 * RecordStore on DynamoDB: a head item per record plus one item per revision, per audit entry and per
 * submitter; also the listing (RecordListing) over the `queue` and `by` indexes.
 */
/** What a marking write does about the head's `first_public_at`: stamp it with the mark's time, or require the fence below a time. */
interface FirstPublic {
  stamp?: Item;
  fenceBelow?: number;
}

export class DynamoDbRecordStore implements RecordStore, RecordListing {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    /** The store's clock for change marks (ms); the fence compares marks with it, so it is the same clock. */
    private readonly nowMs: () => number = Date.now,
  ) {}

  async getHead(id: string): Promise<RecordHead | undefined> {
    const out = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.head(id), ConsistentRead: true }));
    return out.Item ? itemToHead(out.Item) : undefined;
  }

  async getHeads(ids: ReadonlyArray<string>): Promise<Map<string, RecordHead>> {
    const found = new Map<string, RecordHead>();
    for (const item of await batchGet(this.db, this.table, ids.map((id) => keys.head(id)))) {
      const head = itemToHead(item);
      found.set(head.id, head);
    }
    return found;
  }

  private condition(version: number) {
    return version === 1
      ? { ConditionExpression: 'attribute_not_exists(pk)' }
      : { ConditionExpression: '#v = :v', ExpressionAttributeNames: { '#v': 'version' }, ExpressionAttributeValues: { ':v': version - 1 } };
  }

  /**
   * Runs `items` (the head put first) as one transaction. With `mark`, the transaction also appends a
   * change mark and checks the publish fence of the mark's shard: a mark must be later than the cut of
   * any publish that has started, so a publish that raised the fences has already seen every mark at or
   * below its cut. One fence per shard: writers of different shards never wait on the same item.
   * Returns false only when the head's own condition failed.
   */
  private async transact(id: string, items: TransactItem[], mark: boolean, first: FirstPublic = {}): Promise<boolean | 'recheck'> {
    let floor = 0;
    for (let attempt = 0; ; attempt++) {
      const at = Math.max(this.nowMs(), floor);
      // The head's first mark while publishable: what its first release is read from (ChangeLog.firstPublished).
      if (first.stamp) first.stamp.first_public_at = at;
      const below = Math.min(at, first.fenceBelow ?? Infinity);
      const extra: TransactItem[] = mark
        ? [
            { Put: { TableName: this.table, Item: { ...keys.mark(id, at), id, ttl: Math.ceil((at + MARK_RETENTION_MS) / 1000) } } },
            {
              ConditionCheck: {
                TableName: this.table,
                Key: keys.fenceOf(id),
                ConditionExpression: 'attribute_not_exists(cut) OR cut < :at',
                ExpressionAttributeValues: { ':at': below },
              },
            },
          ]
        : [];
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: [...items, ...extra] }));
        return true;
      } catch (err) {
        if (!(err instanceof TransactionCanceledException)) throw err;
        const reasons = err.CancellationReasons ?? [];
        // The head's version (or the revision's absence) no longer holds: the caller re-reads.
        if (reasons.slice(0, items.length).some((r) => r.Code === 'ConditionalCheckFailed')) return false;
        if (attempt + 1 >= FENCE_ATTEMPTS) throw err;
        const fenced = mark && reasons[items.length + 1]?.Code === 'ConditionalCheckFailed';
        // A publish started that may hold the record: it is no longer "retracted before any release".
        if (fenced && first.fenceBelow !== undefined) return 'recheck';
        if (fenced) {
          // A publish raised the fence past our mark's time (its clock is ahead of ours): mark after it.
          const fence = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.fenceOf(id), ConsistentRead: true }));
          floor = Number(fence.Item?.cut ?? 0) + 1;
        } else {
          // TransactionConflict: another transaction held one of our items (the fence while a publish raised it).
          await backOff(attempt);
        }
      }
    }
  }

  /** The put of a revision item: never over an existing one. */
  private revisionPut(revision: RevisionEntry): TransactItem {
    const { content, ...meta } = revision;
    return { Put: { TableName: this.table, Item: { ...keys.revision(revision.id, revision.revision), ...meta, content: JSON.stringify(content) }, ConditionExpression: 'attribute_not_exists(pk)' } };
  }

  async writeRevision(head: RecordHead, revision: RevisionEntry, opts: WriteOptions, previous?: RecordHead): Promise<boolean> {
    return this.writeWithSubmitters(head, this.revisionPut(revision), opts, previous);
  }

  /**
   * Several records' revisions in one TransactWriteItems: each record's items (head with its version
   * condition, revision, `by` entries, change mark) whole, plus one fence check per mark shard they
   * touch, packed in order up to 100 actions and {@link TRANSACTION_BYTES}. When the transaction is
   * cancelled (it wrote nothing), the records whose own items failed their condition are `stale` and
   * the rest are sent again; a fence a publish raised moves the marks' time past it; a conflict with
   * another transaction or throttling waits (exponential, jittered) and sends again.
   */
  async writeRevisions(writes: ReadonlyArray<RevisionWrite>): Promise<GroupWriteOutcome[]> {
    const outcomes: GroupWriteOutcome[] = writes.map(() => 'not_sent');
    const members: GroupMember[] = [];
    let actions = 0;
    let bytes = 0;
    const shards = new Set<string>();
    for (const [at, w] of writes.entries()) {
      const { item, stamp, retractedAfter } = firstPublicItem(w.head, w.previous, w.opts.publishChanged);
      if (retractedAfter !== undefined) {
        // A retraction decided on the fence: its own transaction (writeWithSubmitters), never a group's.
        if (at > 0) break;
        outcomes[0] = (await this.writeRevision(w.head, w.revision, w.opts, w.previous)) ? 'written' : 'stale';
        return outcomes;
      }
      const submitters = submitterItems(w.head, w.previous);
      const own: TransactItem[] = [
        { Put: { TableName: this.table, Item: item, ...this.condition(w.head.version) } },
        this.revisionPut(w.revision),
        ...submitters.slice(0, SUBMITTERS_IN_TRANSACTION).map((Item): TransactItem => ({ Put: { TableName: this.table, Item } })),
      ];
      const shard = keys.fenceOf(w.head.id).sk;
      const needs = own.length + (w.opts.publishChanged ? 1 + (shards.has(shard) ? 0 : 1) : 0);
      const size = own.reduce((n, t) => n + approxBytes(t.Put!.Item as Item), 0);
      if (members.length > 0 && (actions + needs > TRANSACTION_ACTIONS || bytes + size > TRANSACTION_BYTES)) break;
      actions += needs;
      bytes += size;
      if (w.opts.publishChanged) shards.add(shard);
      members.push({ at, id: w.head.id, head: item, stamp, own, later: submitters.slice(SUBMITTERS_IN_TRANSACTION), mark: w.opts.publishChanged });
    }

    let live = members;
    let floor = 0;
    for (let attempt = 0; ; ) {
      const at = Math.max(this.nowMs(), floor);
      const items: TransactItem[] = [];
      // Whose each action is: a member, or the fence (its sort key) a mark is checked against.
      const owners: Array<GroupMember | string> = [];
      for (const m of live) {
        // The head's first mark while publishable: what its first release is read from (ChangeLog.firstPublished).
        if (m.stamp) m.head.first_public_at = at;
        const mine: TransactItem[] = m.mark ? [...m.own, { Put: { TableName: this.table, Item: { ...keys.mark(m.id, at), id: m.id, ttl: Math.ceil((at + MARK_RETENTION_MS) / 1000) } } }] : m.own;
        items.push(...mine);
        owners.push(...mine.map(() => m));
      }
      // One check per fence: a transaction may not name an item twice.
      const fences = new Map(live.filter((m) => m.mark).map((m) => [keys.fenceOf(m.id).sk, keys.fenceOf(m.id)] as const).sort(([a], [b]) => (a < b ? -1 : 1)));
      for (const [sk, Key] of fences) {
        items.push({ ConditionCheck: { TableName: this.table, Key, ConditionExpression: 'attribute_not_exists(cut) OR cut < :at', ExpressionAttributeValues: { ':at': at } } });
        owners.push(sk);
      }
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: items }));
      } catch (err) {
        if (!(err instanceof TransactionCanceledException)) throw err;
        const stale = new Set<GroupMember>();
        const fenced: Array<Record<string, string>> = [];
        for (const [i, reason] of (err.CancellationReasons ?? []).entries()) {
          if (reason.Code !== 'ConditionalCheckFailed') continue;
          const owner = owners[i];
          if (typeof owner === 'string') fenced.push(fences.get(owner)!);
          else if (owner) stale.add(owner);
        }
        if (stale.size > 0) {
          // Their heads changed since the caller read them: the caller reads again. The others go again now.
          for (const m of stale) outcomes[m.at] = 'stale';
          live = live.filter((m) => !stale.has(m));
          if (live.length === 0) return outcomes;
          continue;
        }
        if (++attempt >= FENCE_ATTEMPTS) throw err;
        if (fenced.length > 0) {
          // A publish raised a fence past our marks' time (its clock is ahead of ours): mark after it.
          const cuts = await Promise.all(fenced.map(async (Key) => (await this.db.send(new GetCommand({ TableName: this.table, Key, ConsistentRead: true }))).Item?.cut));
          floor = Math.max(floor, ...cuts.map((c) => Number(c ?? 0) + 1));
        } else {
          // TransactionConflict (another transaction held one of our items) or throttling.
          await backOff(attempt);
        }
        continue;
      }
      for (const m of live) outcomes[m.at] = 'written';
      // Past what a transaction takes (a record with very many submitters): written just after, as writeRevision does.
      await this.putItems(live.flatMap((m) => m.later));
      return outcomes;
    }
  }

  async updateHead(head: RecordHead, audit: AuditEntry, opts: WriteOptions, previous?: RecordHead): Promise<boolean> {
    return this.writeWithSubmitters(
      head,
      { Put: { TableName: this.table, Item: { ...keys.audit(audit.id, audit.at, randomBytes(4).toString('hex')), ...audit }, ConditionExpression: 'attribute_not_exists(pk)' } },
      opts,
      previous,
    );
  }

  /**
   * The head's item with its `first_public_at` (RecordHead): kept from the head it replaces; stamped
   * with the mark's time by the write that first makes it publishable; -1 when a retraction comes
   * before any publish could hold it. That last is decided on the fence (every publish raises it to its
   * cut before reading), and the write checks the fence is still below the time, so a publish that
   * starts meanwhile makes it decide again.
   */
  private async firstPublic(head: RecordHead, previous: RecordHead | undefined, mark: boolean): Promise<{ item: Item; first: FirstPublic }> {
    const { item, stamp, retractedAfter } = firstPublicItem(head, previous, mark);
    if (retractedAfter !== undefined) {
      const fence = await this.db.send(new GetCommand({ TableName: this.table, Key: keys.fenceOf(head.id), ConsistentRead: true }));
      if (Number(fence.Item?.cut ?? 0) < retractedAfter) return { item: { ...item, first_public_at: -1 }, first: { fenceBelow: retractedAfter } };
    }
    return { item, first: stamp ? { stamp: item } : {} };
  }

  /** The head, its revision or audit entry and the `by` entries that move, in one transaction. */
  private async writeWithSubmitters(head: RecordHead, entry: TransactItem, opts: WriteOptions, previous: RecordHead | undefined): Promise<boolean> {
    const submitters = submitterItems(head, previous);
    const inside = submitters.slice(0, SUBMITTERS_IN_TRANSACTION).map((Item): TransactItem => ({ Put: { TableName: this.table, Item } }));
    let written: boolean | 'recheck' = 'recheck';
    while (written === 'recheck') {
      const { item, first } = await this.firstPublic(head, previous, opts.publishChanged);
      written = await this.transact(head.id, [{ Put: { TableName: this.table, Item: item, ...this.condition(head.version) } }, entry, ...inside], opts.publishChanged, first);
    }
    // Past what a transaction takes (a record with very many submitters): written just after. Until
    // then a listing may place those keys' entries where the head was; readers re-read the head.
    if (written) await this.putItems(submitters.slice(SUBMITTERS_IN_TRANSACTION));
    return written;
  }

  private async putItems(items: Item[]): Promise<void> {
    for (let i = 0; i < items.length; i += 25) {
      let request: Record<string, Array<{ PutRequest: { Item: Item } }>> | undefined = { [this.table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) };
      for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
        request = (await this.db.send(new BatchWriteCommand({ RequestItems: request }))).UnprocessedItems as typeof request;
      }
    }
  }

  async listHeads(query: HeadListQuery): Promise<HeadPage> {
    const groups = LIST_GROUPS[query.status];
    const fingerprint = queryFingerprint(query);
    let group = 0;
    let after: string | null = null;
    if (query.cursor !== undefined) {
      const c = decodeCursor(query.cursor);
      if (c.q !== fingerprint || c.g >= groups.length) throw new InvalidCursorError('the cursor belongs to another query');
      group = c.g;
      after = c.a;
    }
    const byKey = query.submittedBy;
    const index = byKey === undefined ? TABLE_SHAPE.indexes.queue : TABLE_SHAPE.indexes.by;
    const kinds = query.kind ? [query.kind] : RECORD_KINDS;
    const listed: Item[] = [];
    let cursor: string | undefined;
    while (group < groups.length) {
      const partitions = groups[group]!.flatMap((status) => kinds.map((kind) => (byKey === undefined ? `Q#${status}#${kind}` : byPartition(byKey, status, kind))));
      const { items, more } = await this.mergePartitions(index, partitions, after, query.limit - listed.length);
      listed.push(...items);
      if (listed.length >= query.limit) {
        if (more) cursor = encodeCursor({ v: 1, q: fingerprint, g: group, a: listed.at(-1)![index.sortKey] as string });
        else if (group + 1 < groups.length) cursor = encodeCursor({ v: 1, q: fingerprint, g: group + 1, a: null });
        break;
      }
      group += 1;
      after = null;
    }
    if (byKey === undefined) return { heads: listed.map(itemToHead), ...(cursor ? { cursor } : {}) };
    // `by` entries point at heads: read them (strongly consistent), and keep those still where the
    // entry says (the index lags the table a little).
    const heads = await this.getHeads(listed.map((i) => i.id as string));
    const current = listed.flatMap((i) => {
      const h = heads.get(i.id as string);
      return h && h.submitters.includes(byKey) && i.by_pk === byPartition(byKey, listedStatus(h), h.kind) ? [h] : [];
    });
    return { heads: current, ...(cursor ? { cursor } : {}) };
  }

  /**
   * The first `n` items after `after` of several index partitions sorted by the same key, merged in
   * that order. Each partition is read lazily, a few items at a time, so a page costs about `n` items.
   * @returns the items, and whether the partitions may hold more after the last one
   */
  private async mergePartitions(index: { name: string; partitionKey: string; sortKey: string }, partitions: string[], after: string | null, n: number): Promise<{ items: Item[]; more: boolean }> {
    const chunk = Math.min(n, Math.max(10, Math.ceil((2 * n) / partitions.length)));
    const streams = partitions.map((partition) => ({ partition, buffer: [] as Item[], start: undefined as Item | undefined, done: false }));
    const fill = async (s: (typeof streams)[number]) => {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: index.name,
          KeyConditionExpression: after === null ? '#pk = :pk' : '#pk = :pk AND #sk > :after',
          ExpressionAttributeNames: { '#pk': index.partitionKey, ...(after === null ? {} : { '#sk': index.sortKey }) },
          ExpressionAttributeValues: { ':pk': s.partition, ...(after === null ? {} : { ':after': after }) },
          ExclusiveStartKey: s.start,
          Limit: chunk,
        }),
      );
      s.buffer.push(...(out.Items ?? []));
      s.start = out.LastEvaluatedKey;
      s.done = !s.start;
    };
    const items: Item[] = [];
    const key = (i: Item) => i[index.sortKey] as string;
    while (items.length < n) {
      await Promise.all(streams.filter((s) => s.buffer.length === 0 && !s.done).map(fill));
      let best: (typeof streams)[number] | undefined;
      for (const s of streams) if (s.buffer.length > 0 && (!best || key(s.buffer[0]!) < key(best.buffer[0]!))) best = s;
      if (!best) break;
      items.push(best.buffer.shift()!);
    }
    return { items, more: streams.some((s) => s.buffer.length > 0 || !s.done) };
  }

  private async queryPrefix(id: string, prefix: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':pk': keys.head(id).pk, ':p': prefix },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async listRevisions(id: string): Promise<RevisionEntry[]> {
    return (await this.queryPrefix(id, 'REV#')).map(({ pk: _pk, sk: _sk, content, ...rest }) => ({ ...(rest as Omit<RevisionEntry, 'content'>), content: JSON.parse(content as string) }));
  }

  async ping(): Promise<void> {
    await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: 'PING', sk: 'PING' } }));
  }

  async listAudit(id: string): Promise<AuditEntry[]> {
    return (await this.queryPrefix(id, 'AUDIT#')).map(({ pk: _pk, sk: _sk, ...rest }) => rest as unknown as AuditEntry);
  }

  async isEmpty(): Promise<boolean> {
    const out = await this.db.send(new ScanCommand({ TableName: this.table, IndexName: TABLE_SHAPE.indexes.heads.name, Limit: 1 }));
    return (out.Items ?? []).length === 0 && !out.LastEvaluatedKey;
  }

  /**
   * Brings heads written by an earlier version up to the current key design ({@link KEY_DESIGN}): index
   * attributes added, `first_published` moved beside the head, a `by` entry for each submitter. Run once
   * when an index was added to an existing table.
   * @returns how many heads were rewritten
   */
  async reindexHeads(): Promise<number> {
    let start: Item | undefined;
    let rewritten = 0;
    do {
      const out = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'sk = :head AND (attribute_not_exists(heads_pk) OR attribute_not_exists(queue_pk) OR attribute_not_exists(key_design) OR key_design < :design)',
          ExpressionAttributeValues: { ':head': 'HEAD', ':design': KEY_DESIGN },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of out.Items ?? []) {
        const head = itemToHead(item);
        const items: TransactItem[] = [{ Put: { TableName: this.table, Item: headToItem(head), ConditionExpression: '#v = :v', ExpressionAttributeNames: { '#v': 'version' }, ExpressionAttributeValues: { ':v': head.version } } }];
        if (typeof item.first_published === 'string') items.push({ Put: { TableName: this.table, Item: { ...keys.published(head.id), first_published: item.first_published } } });
        const submitters = submitterItems(head, undefined);
        items.push(...submitters.slice(0, SUBMITTERS_IN_TRANSACTION).map((Item): TransactItem => ({ Put: { TableName: this.table, Item } })));
        try {
          await this.db.send(new TransactWriteCommand({ TransactItems: items }));
          await this.putItems(submitters.slice(SUBMITTERS_IN_TRANSACTION));
          rewritten++;
        } catch (err) {
          // Rewritten meanwhile by a current writer: it has the attributes now.
          if (!(err instanceof TransactionCanceledException)) throw err;
        }
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return rewritten;
  }

  async *scanHeads(segments: number): AsyncIterable<RecordHead[]> {
    // Segments of the heads-only index are read in parallel; pages are handed out as they arrive.
    const pending = new Map<number, Promise<{ segment: number; items: Item[]; next?: Item }>>();
    const read = (segment: number, start?: Item) =>
      this.db
        .send(new ScanCommand({ TableName: this.table, IndexName: TABLE_SHAPE.indexes.heads.name, Segment: segment, TotalSegments: segments, ExclusiveStartKey: start }))
        .then((out) => ({ segment, items: out.Items ?? [], next: out.LastEvaluatedKey }));
    for (let s = 0; s < segments; s++) pending.set(s, read(s));
    while (pending.size > 0) {
      const { segment, items, next } = await Promise.race(pending.values());
      if (next) pending.set(segment, read(segment, next));
      else pending.delete(segment);
      if (items.length > 0) yield items.map(itemToHead);
    }
  }
}

/**
 * BatchGetItem over any number of keys: 100 per request, a few requests in flight, unprocessed keys
 * retried with backoff; strongly consistent.
 */
export async function batchGet(db: DynamoDBDocumentClient, table: string, itemKeys: ReadonlyArray<Item>): Promise<Item[]> {
  const unique = [...new Map(itemKeys.map((k) => [`${k.pk}\u0000${k.sk}`, k])).values()];
  const chunks: Item[][] = [];
  for (let i = 0; i < unique.length; i += 100) chunks.push(unique.slice(i, i + 100));
  const found: Item[] = [];
  const readChunk = async (chunk: Item[]) => {
    let request: Record<string, { Keys: Item[]; ConsistentRead: boolean }> | undefined = { [table]: { Keys: chunk, ConsistentRead: true } };
    for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
      const out = await db.send(new BatchGetCommand({ RequestItems: request }));
      found.push(...(out.Responses?.[table] ?? []));
      request = out.UnprocessedKeys as typeof request;
    }
  };
  const queue = [...chunks];
  await Promise.all(
    Array.from({ length: Math.min(4, queue.length) }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await readChunk(c);
    }),
  );
  return found;
}
