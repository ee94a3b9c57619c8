/**
 * Random PDUs for the frames scenario, generated fast from a seed: a
 * 16-byte header whose length is mostly right (the body follows) and
 * sometimes implausible (0, inside the header, a lie, up to 4 GiB), a
 * command id that is mostly one the servers know and otherwise any u16,
 * random flag / seq / version, and a random body (mostly under 256 bytes,
 * sometimes up to 4 KiB). Bytes are bounded: at most MAX_BODY per frame.
 */
import { ALL_COMMANDS } from '../../proto/commands.ts';
import { HEADER_LENGTH, PDU_VERSION } from '../../proto/header.ts';
import { rng } from '../../test/helpers/rng.ts';

const MAX_BODY = 4096;
const KNOWN = ALL_COMMANDS.map((c) => c.id);

export class FrameSource {
  private readonly next: () => number;
  /** Frames whose length field does not describe what follows (the stream is out of step after them). */
  implausible = 0;
  bytes = 0;

  constructor(seed: number) {
    this.next = rng(seed);
  }

  private u32(): number {
    return Math.floor(this.next() * 4294967296);
  }

  private below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** `count` frames back to back. */
  batch(count: number): Buffer {
    const parts: Buffer[] = [];
    for (let i = 0; i < count; i++) parts.push(this.frame());
    const out = Buffer.concat(parts);
    this.bytes += out.length;
    return out;
  }

  frame(): Buffer {
    const bodyLength = this.next() < 0.97 ? this.below(256) : this.below(MAX_BODY + 1);
    const out = Buffer.allocUnsafe(HEADER_LENGTH + bodyLength);
    for (let o = HEADER_LENGTH; o + 4 <= out.length; o += 4) out.writeUInt32LE(this.u32(), o);
    for (let o = out.length - (bodyLength % 4); o < out.length; o++) out[o] = this.below(256);
    const roll = this.next();
    let length = out.length;
    if (roll < 0.01) length = 0;
    else if (roll < 0.02) length = this.below(HEADER_LENGTH);
    else if (roll < 0.03) length = this.u32();
    else if (roll < 0.04) length = out.length + 1 + this.below(64);
    if (length !== out.length) this.implausible++;
    out.writeUInt32BE(length >>> 0, 0);
    out.writeUInt16BE(this.next() < 0.95 ? PDU_VERSION : this.below(65536), 4);
    out.writeUInt16BE(this.next() < 0.9 ? 0 : this.below(65536), 6);
    const cid = this.next() < 0.8 ? KNOWN[this.below(KNOWN.length)]! : this.below(65536);
    out.writeUInt16BE(this.next() < 0.9 ? cid >> 8 : this.below(65536), 8);
    out.writeUInt16BE(cid, 10);
    out.writeUInt16BE(this.below(65536), 12);
    out.writeUInt16BE(0, 14);
    return out;
  }
}
