import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/** Bytes of plain text per gzip member: large enough that the 18-byte member framing does not matter. */
export const MEMBER_BYTES = 8 * 1024 * 1024;

/**
 * Compresses a file into a gzip file of several members (RFC 1952 §2.2: "a gzip file consists of a
 * series of members"), each member a consecutive slice of the input, compressed in parallel on the
 * libuv thread pool. `gunzip`, zlib, Python's gzip, DuckDB and Hadoop/Athena read it as one stream,
 * byte for byte the input. Memory stays bounded: at most `inFlight` slices (and their output) at once.
 * With `append`, the members go at the end of `to` (a gzip file already): the result reads as the
 * two inputs one after the other.
 * @returns the bytes written
 */
export async function gzipFileInMembers(from: string, to: string, opts: { level?: number; inFlight?: number; memberBytes?: number; append?: boolean } = {}): Promise<number> {
  const memberBytes = opts.memberBytes ?? MEMBER_BYTES;
  const inFlight = Math.max(1, opts.inFlight ?? availableParallelism());
  const level = opts.level ?? 6;
  let input: FileHandle | undefined;
  let output: FileHandle | undefined;
  try {
    input = await open(from, 'r');
    output = await open(to, opts.append ? 'a' : 'w');
    const pending: Array<Promise<Buffer>> = [];
    let written = 0;
    let position = 0;
    const drainOne = async () => {
      const member = await pending.shift()!;
      await output!.write(member);
      written += member.length;
    };
    for (;;) {
      const slice = Buffer.allocUnsafe(memberBytes);
      const { bytesRead } = await input.read(slice, 0, memberBytes, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const member = gzipAsync(slice.subarray(0, bytesRead), { level });
      member.catch(() => undefined); // observed in order by drainOne; this only keeps a later failure from going unhandled
      pending.push(member);
      if (pending.length >= inFlight) await drainOne();
    }
    while (pending.length > 0) await drainOne();
    // An empty input still makes a valid (empty) gzip file.
    if (written === 0 && !opts.append) {
      const empty = await gzipAsync(Buffer.alloc(0), { level });
      await output.write(empty);
      written = empty.length;
    }
    return written;
  } finally {
    await input?.close();
    await output?.close();
  }
}
