import { ErrorCode, ImError } from '../common/errors.ts';
import { HEADER_LENGTH, readHeader, type Pdu } from './header.ts';

/** 1 MiB: larger than any TeamTalk PDU a client sends (messages, avatars as URLs). */
export const DEFAULT_MAX_FRAME_LENGTH = 1024 * 1024;

export interface FrameDecoderOptions {
  /** Largest whole PDU (header included) accepted, in bytes. */
  maxFrameLength?: number;
}

/**
 * Turns a byte stream into PDUs. No socket: `push(chunk)` returns the frames
 * that chunk completed. The length field is checked as soon as the 16-byte
 * header is in, before any body is buffered, so a hostile length costs
 * nothing. After an error the decoder stays failed: the stream is unframed
 * and the owner must close the connection. Frames completed before a bad
 * header in the same chunk are still returned; `error` is then set and the
 * next `push` throws it, so owners check `error` after handling frames.
 *
 * Bodies are views into the pushed chunks where a frame lies inside one
 * chunk (no copy); a frame that spans chunks is gathered as a list of chunks
 * and assembled into one new buffer once it is complete (one copy, however
 * many chunks it arrived in).
 */
export class FrameDecoder {
  private max: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Whole length of the incomplete frame once its header is in, else 0. */
  private need = 0;
  private failed: ImError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.max = checkedMax(options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH);
  }

  /** Largest whole PDU (header included) accepted for headers read from now on. */
  get maxFrameLength(): number {
    return this.max;
  }

  /** Bytes held for an incomplete frame. Never more than maxFrameLength. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Hands over the bytes of the incomplete frame (the caller reads the rest itself from now on). */
  takeBuffered(): Buffer {
    const rest = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.need = 0;
    return rest;
  }

  /** The error that stopped this decoder, if any. */
  get error(): ImError | null {
    return this.failed;
  }

  /**
   * Like `push`, but never throws: the frames this chunk completed, and the
   * error that stopped the decoder (now or before), if any. Owners of a
   * connection use this: one place decides what a framing error does.
   */
  read(chunk: Uint8Array): { frames: Pdu[]; error: ImError | null } {
    try {
      return { frames: this.push(chunk), error: this.failed };
    } catch (err) {
      return { frames: [], error: err as ImError };
    }
  }

  /**
   * Raises or lowers the frame cap for headers read from now on (a frame whose
   * header is already in keeps the cap it was checked against).
   */
  setMaxFrameLength(max: number): void {
    this.max = checkedMax(max);
  }

  push(chunk: Uint8Array): Pdu[] {
    if (this.failed) throw this.failed;
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.pendingBytes > 0) {
      // A frame is incomplete: gather chunks and concatenate once, when the
      // frame (or at least its header) is complete, not on every chunk.
      const total = this.pendingBytes + buf.length;
      if (this.need > 0 && total < this.need) {
        this.pending.push(buf);
        this.pendingBytes = total;
        return [];
      }
      this.pending.push(buf);
      buf = Buffer.concat(this.pending, total);
      this.pending = [];
      this.pendingBytes = 0;
      this.need = 0;
    }
    const frames: Pdu[] = [];
    let offset = 0;
    while (buf.length - offset >= HEADER_LENGTH) {
      const header = readHeader(buf, offset);
      if (!this.check(header.length)) {
        if (frames.length === 0) throw this.failed;
        return frames;
      }
      if (buf.length - offset < header.length) {
        this.need = header.length;
        break;
      }
      frames.push({ header, body: buf.subarray(offset + HEADER_LENGTH, offset + header.length) });
      offset += header.length;
    }
    if (offset < buf.length) {
      // Keep only the tail; copy it when it is a small part of a large chunk so the
      // chunk itself can be collected.
      const rest = buf.subarray(offset);
      const keep = rest.length * 4 < buf.length ? Buffer.from(rest) : rest;
      this.pending.push(keep);
      this.pendingBytes = keep.length;
    }
    return frames;
  }

  /** False (and `failed` set, buffers released) when the length is out of bounds. */
  private check(length: number): boolean {
    if (length < HEADER_LENGTH) {
      this.failed = new ImError(ErrorCode.FRAME_TOO_SHORT, `PDU length ${length} is below the ${HEADER_LENGTH}-byte header`);
    } else if (length > this.max) {
      this.failed = new ImError(ErrorCode.FRAME_TOO_LONG, `PDU length ${length} exceeds the maximum of ${this.max}`);
    } else {
      return true;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.need = 0;
    return false;
  }
}

function checkedMax(max: number): number {
  if (!Number.isInteger(max) || max < HEADER_LENGTH || max > 0xffffffff) {
    throw new ImError(ErrorCode.BAD_CONFIG, `maxFrameLength must be an integer in [${HEADER_LENGTH}, 2^32-1], got ${max}`);
  }
  return max;
}
