import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

const CHUNK = 3 * 65536;

/**
 * Acked messages as [kind, target, msgId] u32 triples, appended to a file in
 * 768 KiB chunks so the generator's memory stays flat however long it runs.
 */
export class AckLog {
  private readonly fd: number | null;
  private buf = new Uint32Array(CHUNK);
  private used = 0;
  count = 0;

  constructor(file: string | null) {
    this.fd = file === null ? null : openSync(file, 'w');
  }

  add(kind: number, target: number, msgId: number): void {
    if (this.fd === null) return;
    this.buf[this.used++] = kind;
    this.buf[this.used++] = target;
    this.buf[this.used++] = msgId;
    this.count++;
    if (this.used === CHUNK) this.flush();
  }

  private flush(): void {
    if (this.fd === null || this.used === 0) return;
    writeSync(this.fd, new Uint8Array(this.buf.buffer, 0, this.used * 4));
    this.used = 0;
  }

  close(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
  }
}

/** Reads an ack file back: triples in ack order. */
export function readAcks(file: string): Uint32Array {
  const bytes = readFileSync(file);
  const out = new Uint32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
