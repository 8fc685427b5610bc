// The non-interactive core of `rights-ledger review` (cli/review.ts): key presses in, review requests out;
// a queue item in, the lines a terminal shows out (coloured, or plain with NO_COLOR).
import { describe, expect, it } from 'vitest';
import { COLOURS, PLAIN, paletteFor, pressKey, renderItem, requestsFor, splitKeys, startSession } from '../../cli/review.ts';
import type { ListedRecord } from '../../schemas/api.ts';

const item = (id: string, revision: number, extra: Partial<ListedRecord> = {}): ListedRecord => ({
  id,
  kind: 'event',
  revision,
  review_status: 'pending',
  approved_revision: revision > 1 ? revision - 1 : null,
  updated_at: '2026-01-10T00:00:00.000Z',
  retracted: false,
  patch: [{ op: 'replace', path: '/killed/best', value: 12 }],
  ...extra,
});
const QUEUE = [item('evt-a', 3), item('evt-b', 1), item('evt-c', 7), item('evt-d', 2)];

describe('key presses → review requests', () => {
  it('a approves, r + note + Enter rejects with the note, s skips; each with the revision shown', () => {
    const requests = requestsFor(QUEUE, ['a', 'r', ...'no source', '\r', 's', 'A']);
    expect(requests).toEqual([
      { path: '/records/event/evt-a/review', body: { decision: 'approve', revision: 3 } },
      { path: '/records/event/evt-b/review', body: { decision: 'reject', revision: 1, note: 'no source' } },
      { path: '/records/event/evt-d/review', body: { decision: 'approve', revision: 2 } },
    ]);
  });

  it('in a note, Backspace deletes, Escape goes back to the same record, letters are text not commands', () => {
    expect(requestsFor(QUEUE, ['r', ...'dupe', '\x7f', '\x7f', ...'ab', '\r'])).toEqual([{ path: '/records/event/evt-a/review', body: { decision: 'reject', revision: 3, note: 'duab' } }]);
    expect(requestsFor(QUEUE, ['r', ...'as', '\x1b', 'a'])).toEqual([{ path: '/records/event/evt-a/review', body: { decision: 'approve', revision: 3 } }]);
    // An empty note rejects without one.
    expect(requestsFor(QUEUE, ['r', '  ', '\r'])).toEqual([{ path: '/records/event/evt-a/review', body: { decision: 'reject', revision: 3 } }]);
  });

  it('q and Ctrl-C end the session; keys after the end or past the last record do nothing; unknown keys are ignored', () => {
    expect(requestsFor(QUEUE, ['x', '?', 'q', 'a', 'a'])).toEqual([]);
    expect(requestsFor(QUEUE, ['a', '\x03', 'a'])).toHaveLength(1);
    expect(requestsFor(QUEUE, ['r', ...'note', '\x03', '\r'])).toEqual([]);
    expect(requestsFor(QUEUE.slice(0, 1), ['a', 'a', 'a'])).toHaveLength(1);
    expect(requestsFor([], ['a'])).toEqual([]);
  });

  it('reports what happened, for the loop to show', () => {
    let s = startSession(QUEUE);
    const r = pressKey(s, 'r');
    expect(r.events).toEqual([{ type: 'ask_note', item: QUEUE[0] }]);
    s = pressKey(r.session, 'x').session;
    expect(pressKey(s, '\x1b').events).toEqual([{ type: 'back' }]);
    expect(pressKey(startSession(QUEUE), 's').events).toEqual([{ type: 'skip', item: QUEUE[0] }]);
    expect(pressKey(startSession(QUEUE), 'q')).toMatchObject({ session: { quit: true }, events: [{ type: 'quit' }] });
  });

  it('ids are escaped in the path', () => {
    expect(requestsFor([item('evt:a.b', 1)], ['a'])[0]!.path).toBe('/records/event/evt%3Aa.b/review');
  });

  it('a terminal chunk splits into keys; an escape sequence is one key', () => {
    expect(splitKeys('ab\r')).toEqual(['a', 'b', '\r']);
    expect(splitKeys('\x1b[A\x1b[3~s')).toEqual(['\x1b[A', '\x1b[3~', 's']);
    expect(splitKeys('n\u00e9\ud83d\ude00')).toEqual(['n', '\u00e9', '\ud83d\ude00']);
  });
});

describe('a queue item on screen', () => {
  const shown = item('evt-x', 3, {
    submitted_by: 'key_alice',
    patch: [
      { op: 'add', path: '/injured', value: { best: 4 } },
      { op: 'remove', path: '/arrested' },
      { op: 'replace', path: '/killed/best', value: 12 },
    ],
  });

  it('in colour: additions green, removals red, replacements yellow, with the revision and what it is compared with', () => {
    const text = renderItem(shown, { index: 0, total: 5 }, COLOURS);
    expect(text).toContain('\x1b[32m+ /injured {"best":4}\x1b[0m');
    expect(text).toContain('\x1b[31m- /arrested\x1b[0m');
    expect(text).toContain('\x1b[33m~ /killed/best 12\x1b[0m');
    expect(text).toContain('1/5  event evt-x  revision 3');
    expect(text).toContain('by key_alice');
    expect(text).toContain('changes against approved revision 2');
  });

  it('plain with NO_COLOR, or when the output is not a terminal', () => {
    expect(paletteFor({ NO_COLOR: '1' }, true)).toBe(PLAIN);
    expect(paletteFor({}, false)).toBe(PLAIN);
    expect(paletteFor({ NO_COLOR: '' }, true)).toBe(COLOURS);
    const text = renderItem(shown, { index: 0, total: 5 }, PLAIN);
    expect(text).not.toContain('\x1b');
    expect(text.split('\n').slice(2)).toEqual(['  + /injured {"best":4}', '  - /arrested', '  ~ /killed/best 12']);
  });

  it('never passes a control character from the server to the terminal', () => {
    const hostile = item('evt-y', 1, { patch: [{ op: 'add', path: '/x\x1b[2J', value: 'a\x1b]0;owned\x07b' }], updated_at: '\x1b[31m' });
    const text = renderItem(hostile, { index: 0, total: '?' }, PLAIN);
    expect(text).not.toContain('\x1b');
    expect(text).not.toContain('\x07');
    expect(text).toContain('nothing approved yet');
  });
});
