import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack?.close(); });

describe('smoke', () => {
  it('loads the example dataset through the endpoint', async () => {
    const body = readFileSync('examples/records.ndjson');
    const r = await call(stack, 'POST', '/records', { key: stack.editorKey, body, contentType: 'application/x-ndjson' });
    expect(r.status).toBe(200);
    expect(r.body.results.filter((x: any) => x.status === 'rejected')).toEqual([]);
    const again = await call(stack, 'POST', '/records', { key: stack.editorKey, body, contentType: 'application/x-ndjson' });
    expect(again.body.results.every((x: any) => x.status === 'unchanged')).toBe(true);
    const get = await call(stack, 'GET', '/records/event/evt-khoy-arson-2026-01-17', { key: stack.editorKey });
    console.log(get.status, get.text.slice(0, 300));
  });
});
