import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

const LS = Buffer.from('\u2028', 'utf8');
const PS = Buffer.from('\u2029', 'utf8');

/**
 * U+2028 and U+2029 as JSON escapes: valid JSON either way (they can only occur inside strings), but
 * raw they break the line splitters of JavaScript and of many NDJSON readers. The slice must end on a
 * character boundary.
 */
export function escapeLineSeparators(slice: Buffer): Buffer {
  if (slice.indexOf(LS) < 0 && slice.indexOf(PS) < 0) return slice;
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = slice.indexOf(0xe2, from); i >= 0 && i + 2 < slice.length; i = slice.indexOf(0xe2, i + 1)) {
    if (slice[i + 1] !== 0x80 || (slice[i + 2] !== 0xa8 && slice[i + 2] !== 0xa9)) continue;
    parts.push(slice.subarray(from, i), Buffer.from(slice[i + 2] === 0xa8 ? '\\u2028' : '\\u2029'));
    from = i + 3;
  }
  parts.push(slice.subarray(from));
  return Buffer.concat(parts);
}

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
export async function gzipFileInMembers(from: string, to: string, opts: { level?: number; inFlight?: number; memberBytes?: number; append?: boolean; escapeLineSeparators?: boolean } = {}): Promise<number> {
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
      let end = bytesRead;
      if (opts.escapeLineSeparators && bytesRead === memberBytes) {
        // End on a character boundary (not inside a UTF-8 sequence): the rest starts the next slice.
        while (end > 0 && (slice[end - 1]! & 0xc0) === 0x80) end--;
        if (end > 0 && slice[end - 1]! >= 0xc0) end--;
        if (end === 0) end = bytesRead;
      }
      position += end;
      const text = slice.subarray(0, end);
      const member = gzipAsync(opts.escapeLineSeparators ? escapeLineSeparators(text) : text, { level });
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
