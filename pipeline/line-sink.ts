import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';

/** Appends lines to a file (optionally gzip-compressed), honouring backpressure; counts them. */
export class LineSink {
  rows = 0;
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
    if (!this.input.write(`${line}\n`)) await once(this.input, 'drain');
  }

  async close(): Promise<void> {
    this.input.end();
    await this.finished;
  }
}
