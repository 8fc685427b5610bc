// `rights-ledger review` end to end in a pseudo-terminal: the real CLI in a tmux pane (its own tmux
// server on its own socket), against the real handlers on DynamoDB Local; keys typed with send-keys,
// the screen read with capture-pane, the decisions checked in the store.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestStack, type TestStack } from '../support/stack.ts';
import { source, uid } from '../support/release.ts';

const BIN = join(process.cwd(), 'bin/rights-ledger.mjs');
const SOCKET = `ledger-review-test-${randomBytes(4).toString('hex')}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
const screen = (escapes = false) => tmux('capture-pane', '-p', '-J', ...(escapes ? ['-e'] : []), '-t', 'review', '-S', '-200');

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  try {
    const socket = tmux('display-message', '-p', '-t', 'review', '#{socket_path}').trim();
    tmux('kill-server');
    // tmux leaves its socket file behind.
    rmSync(socket, { force: true });
  } catch {
    // already gone
  }
  await stack?.close();
});

/** Waits until the pane shows `text` (the screen, for the failure message, when it never does). */
async function waitFor(text: string | RegExp, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    last = screen();
    if (typeof text === 'string' ? last.includes(text) : text.test(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`the pane never showed ${String(text)}; it shows:\n${last}`);
}

describe('rights-ledger review in a terminal', () => {
  it('shows each pending record with its coloured patch; a, r + note, s decide with the revision shown; a record changed meanwhile is refused', async () => {
    const contributor = await call(stack, 'POST', '/keys', { key: stack.editorKey, json: { role: 'contributor', name: 'alice' } });
    const alice = contributor.body.key as string;
    const ids = [uid('src-tty-1'), uid('src-tty-2'), uid('src-tty-3'), uid('src-tty-4')];
    // One request each, so that they wait in this order.
    for (const id of ids) expect((await call(stack, 'POST', '/records', { key: alice, json: { records: [source(id, { title: `Title of ${id}` })] } })).status).toBe(200);
    const queue = (await call(stack, 'GET', '/records', { key: stack.editorKey })).body.items.map((x: { id: string }) => x.id);
    expect(queue).toEqual(ids);

    tmux('new-session', '-d', '-s', 'review', '-x', '180', '-y', '60', `env -u NO_COLOR ${process.execPath} ${BIN} review --endpoint ${stack.url} --key ${stack.editorKey}; echo "review exited $?"; sleep 120`);

    await waitFor(`${ids[0]}  revision 1`);
    await waitFor('[a]pprove  [r]eject  [s]kip  [q]uit');
    // The patch against nothing approved: every field added, in green.
    const coloured = screen(true);
    expect(coloured).toMatch(/\x1b\[32m\+ \/title "Title of src-tty-1-[0-9a-f]+"/);
    // Meanwhile someone changes the third record: the revision the editor will be shown is stale by then.
    expect((await call(stack, 'POST', '/records', { key: alice, json: { records: [source(ids[2]!, { title: 'changed meanwhile' })] } })).body.results[0].revision).toBe(2);

    tmux('send-keys', '-t', 'review', 'a');
    await waitFor('approved revision 1');
    await waitFor(`${ids[1]}  revision 1`);
    tmux('send-keys', '-t', 'review', 'r');
    await waitFor('note (Enter sends the rejection');
    tmux('send-keys', '-t', 'review', '-l', 'needs a second source');
    tmux('send-keys', '-t', 'review', 'Enter');
    await waitFor('rejected revision 1');
    await waitFor(`${ids[2]}  revision 1`);
    tmux('send-keys', '-t', 'review', 'a');
    await waitFor('it changed since it was shown');
    await waitFor(`${ids[3]}  revision 1`);
    tmux('send-keys', '-t', 'review', 's');
    const end = await waitFor('review exited');

    expect(end).toContain('1 approved, 1 rejected, 1 skipped, 1 not decided');
    expect(end).toContain('review exited 0');
    const heads = await stack.ctx.records.getHeads(ids);
    expect(heads.get(ids[0]!)).toMatchObject({ review_status: 'approved', approved_revision: 1 });
    expect(heads.get(ids[1]!)).toMatchObject({ review_status: 'rejected', revision: 1 });
    expect(heads.get(ids[2]!)).toMatchObject({ review_status: 'pending', revision: 2 });
    expect(heads.get(ids[3]!)).toMatchObject({ review_status: 'pending', revision: 1 });
    expect((await stack.ctx.records.listAudit(ids[1]!)).map((a) => [a.action, a.revision, a.note])).toEqual([['reject', 1, 'needs a second source']]);
    expect(await stack.ctx.records.listAudit(ids[2]!)).toEqual([]);
  });
});
