import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack?.close(); });

describe('smoke', () => {
  it('loads the example dataset through the endpoint and publishes', async () => {
    const body = readFileSync('examples/records.ndjson');
    const r = await call(stack, 'POST', '/records', { key: stack.editorKey, body, contentType: 'application/x-ndjson' });
    expect(r.body.results.filter((x: any) => x.status === 'rejected')).toEqual([]);
    const p = await call(stack, 'POST', '/publish', { key: stack.editorKey });
    console.log(p.status, p.text);
    const p2 = await call(stack, 'POST', '/publish', { key: stack.editorKey });
    console.log(p2.status, p2.text);
    const cat = await fetch(`${stack.publicBaseUrl}/catalog.json`);
    console.log(await cat.text());
  });
});
