import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';

/** Lines are gathered into writes of about this size: one stream write per line is slow through gzip. */
const CHUNK = 64 * 1024;

/** Appends lines to a file (optionally gzip-compressed), honouring backpressure; counts them. */
export class LineSink {
  rows = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private constructor(
    private readonly input: Writable,
    private readonly finished: Promise<void>,
  ) {}

  static plain(path: string): LineSink {
    const out = createWriteStream(path);
    return new LineSink(out, once(out, 'close').then(() => undefined));
  }

  static gzip(path: string): LineSink {
    const gz = createGzip({ level: 6 });
    return new LineSink(gz, pipeline(gz, createWriteStream(path)));
  }

  async write(line: string): Promise<void> {
    this.rows++;
    this.pending.push(line);
    this.pendingBytes += line.length + 1;
    if (this.pendingBytes >= CHUNK) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.input.write(text)) await once(this.input, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    this.input.end();
    await this.finished;
  }
}
