import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer, type ServerLimits } from '../../local/api-server.ts';
import { reportFigure } from '../support/hardening-report.ts';
import { call, startTestStack, type TestStack } from '../support/stack.ts';

// Slow and abusive clients on the local server (issue 8, item 3), with real sockets. Deadlines are set
// small here; the asserts leave them a wide margin (a loaded 2-core machine must not turn them red).

let stack: TestStack;
const servers: ApiServer[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const s of servers) await s.close();
  await stack?.close();
});

async function serve(limits: Partial<ServerLimits>): Promise<ApiServer> {
  const server = await startApiServer(stack.ctx, { port: 0, limits: { checkIntervalMs: 250, ...limits } });
  servers.push(server);
  return server;
}

interface Peer {
  socket: Socket;
  /** Everything the server sent. */
  received: () => string;
  /** Resolves with the ms from `open` to the close, or 'open' if the socket is still open after `withinMs`. */
  closedWithin: (withinMs: number) => Promise<number | 'open'>;
}

async function open(port: number): Promise<Peer> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let data = '';
  socket.on('data', (d) => (data += d.toString('latin1')));
  socket.on('error', () => undefined);
  const t0 = Date.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - t0)));
  await new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
    socket.once('close', () => resolve());
  });
  return {
    socket,
    received: () => data,
    closedWithin: (withinMs) => Promise.race([closed, new Promise<'open'>((r) => setTimeout(() => r('open'), withinMs).unref())]),
  };
}

/** Writes `text` one byte every `everyMs` until the socket closes or the text ends. */
function dribble(peer: Peer, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (peer.socket.destroyed || i >= text.length) return clearInterval(timer);
    peer.socket.write(text[i++]!);
  }, everyMs);
  peer.socket.once('close', () => clearInterval(timer));
}

const body = (json: string) => json.padEnd(200, ' ');

describe('slow and abusive clients (local server)', () => {
  it('closes a connection whose headers do not arrive within the headers deadline', async () => {
    const server = await serve({ headersTimeoutMs: 1_000, bodyTimeoutMs: 60_000 });
    const peer = await open(server.port);
    dribble(peer, `GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(500)}`, 100);
    const closedAfter = await peer.closedWithin(20_000);
    expect(closedAfter).not.toBe('open');
    expect(peer.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('answers 408 problem+json and closes when an authenticated body does not arrive within the body deadline', async () => {
    const server = await serve({ headersTimeoutMs: 60_000, bodyTimeoutMs: 1_500 });
    const peer = await open(server.port);
    const payload = body('{"records":[]}');
    peer.socket.write(`POST /records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.editorKey}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`);
    dribble(peer, payload, 200); // 40 s for the whole body
    const closedAfter = await peer.closedWithin(25_000);
    expect(closedAfter).not.toBe('open');
    const answer = peer.received();
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(answer).toMatch(/connection: close/i);
    expect(answer).toContain('"code":"request_timeout"');
  });

  it('closes after a 401 without draining an unauthenticated slow body', async () => {
    // A body deadline of a minute: only the close after the 401 can end this connection in time.
    const server = await serve({ headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 });
    const peer = await open(server.port);
    peer.socket.write(`POST /records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
    dribble(peer, 'x'.repeat(99_999), 100);
    const closedAfter = await peer.closedWithin(20_000);
    expect(closedAfter).not.toBe('open');
    expect(peer.received()).toMatch(/^HTTP\/1\.1 401/);
  });

  it('closes after a 401 with a wrong key too, and after a 404 with a body', async () => {
    const server = await serve({ headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 });
    const wrongKey = await open(server.port);
    wrongKey.socket.write(`POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer rl_not_a_key_at_all_000000\r\nContent-Length: 5000\r\n\r\n`);
    dribble(wrongKey, 'y'.repeat(5_000), 100);
    const noRoute = await open(server.port);
    noRoute.socket.write(`POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n`);
    dribble(noRoute, 'y'.repeat(5_000), 100);
    expect(await wrongKey.closedWithin(20_000)).not.toBe('open');
    expect(wrongKey.received()).toMatch(/^HTTP\/1\.1 401/);
    expect(await noRoute.closedWithin(20_000)).not.toBe('open');
    expect(noRoute.received()).toMatch(/^HTTP\/1\.1 404/);
  });

  it('answers 413 and closes when a body passes the gateway limit, without reading the rest', async () => {
    const server = await serve({ headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 });
    const peer = await open(server.port);
    const size = 10 * 1024 * 1024 + 1;
    peer.socket.write(`POST /records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.editorKey}\r\nContent-Type: application/json\r\nContent-Length: ${size + 1_000}\r\n\r\n`);
    peer.socket.write(Buffer.alloc(size, 0x20));
    dribble(peer, ' '.repeat(1_000), 100);
    expect(await peer.closedWithin(20_000)).not.toBe('open');
    expect(peer.received()).toMatch(/^HTTP\/1\.1 413/);
  });

  it('caps open connections: one over the cap is closed at once, and the server serves again when one leaves', async () => {
    const cap = 4;
    const server = await serve({ headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000, maxConnections: cap });
    const held: Peer[] = [];
    for (let i = 0; i < cap; i++) {
      const peer = await open(server.port);
      peer.socket.write('GET /health HTTP/1.1\r\n'); // headers never finished
      held.push(peer);
    }
    // Give the server time to accept all of them before the one over the cap arrives.
    await new Promise((r) => setTimeout(r, 300));
    const over = await open(server.port);
    over.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await over.closedWithin(15_000)).not.toBe('open');
    expect(over.received()).toBe('');
    for (const peer of held) expect(peer.socket.destroyed).toBe(false);

    held[0]!.socket.destroy();
    await new Promise((r) => setTimeout(r, 300));
    const res = await call(server, 'GET', '/health');
    expect(res.status).toBe(200);
    reportFigure({ section: 'slow clients', figure: 'connections held open at the cap (one more refused)', value: cap, source: 'test/integration/slow-clients.test.ts' });
  });
});
