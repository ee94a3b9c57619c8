/**
 * A file being received: written in order through one promise chain, with
 * backpressure (write() says when to pause the source), its first and last
 * bytes kept for recognition, and fsync'd before it is published. Nothing
 * here is visible under the store's layout until the store renames it.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { SNIFF_BYTES } from './file-types.ts';

const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const TAIL_BYTES = 16;

export class TempFile {
  readonly path: string;
  /** Bytes accepted so far. */
  size = 0;
  private head = Buffer.alloc(0);
  private tailBytes = Buffer.alloc(0);
  private fh: FileHandle | undefined;
  private chain: Promise<void>;
  private failure: unknown;
  private queued = 0;
  private drainWaiters: (() => void)[] = [];
  private settled = false;

  constructor(path: string) {
    this.path = path;
    this.chain = open(path, 'wx', 0o644).then(
      (fh) => {
        this.fh = fh;
      },
      (err: unknown) => {
        this.failure = err;
      },
    );
  }

  /** The first bytes (up to SNIFF_BYTES). */
  get first(): Buffer {
    return this.head;
  }

  /** The last bytes written (up to 16). */
  get tail(): Buffer {
    return this.tailBytes;
  }

  /** Queues `data`; false means pause the source until whenDrained(). */
  write(data: Buffer): boolean {
    if (this.settled) throw new Error('write after finish or discard');
    this.size += data.length;
    if (this.head.length < SNIFF_BYTES) {
      this.head = Buffer.concat([this.head, data.subarray(0, SNIFF_BYTES - this.head.length)]);
    }
    this.tailBytes =
      data.length >= TAIL_BYTES ? Buffer.from(data.subarray(-TAIL_BYTES)) : Buffer.concat([this.tailBytes, data]).subarray(-TAIL_BYTES);
    this.queued += data.length;
    this.chain = this.chain.then(async () => {
      try {
        if (this.failure === undefined && this.fh) await writeAll(this.fh, data);
      } catch (err) {
        this.failure = err;
      } finally {
        this.queued -= data.length;
        if (this.queued <= LOW_WATER) this.wakeDrainWaiters();
      }
    });
    return this.queued < HIGH_WATER;
  }

  /** Resolves when queued writes are below the low-water mark. */
  whenDrained(): Promise<void> {
    if (this.queued <= LOW_WATER) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Writes everything, drops the last `trimBytes`, syncs and closes; throws if any write failed. */
  async finish(trimBytes = 0): Promise<number> {
    this.settled = true;
    await this.chain;
    const fh = this.fh;
    if (this.failure !== undefined || !fh) throw this.failure ?? new Error('temporary file not open');
    this.size -= trimBytes;
    if (trimBytes > 0) await fh.truncate(this.size);
    await fh.sync();
    await fh.close();
    this.fh = undefined;
    return this.size;
  }

  /** Stops writing, closes and removes the file; never throws. */
  async discard(): Promise<void> {
    this.settled = true;
    this.failure ??= new Error('discarded');
    this.wakeDrainWaiters();
    await this.chain;
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    await unlink(this.path).catch(() => undefined);
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}

async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}
