import type net from 'node:net';
import type { Logger } from 'pino';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import type { Pdu } from '../proto/header.ts';

export interface PduSocketOptions {
  /** Largest whole PDU accepted (it can change later: `setMaxFrameLength`). */
  maxFrameLength: number;
  /** Bytes written but not taken by the peer before it is declared stuck and dropped. */
  maxOutboundBytes: number;
  /** How long the peer may leave written data unread (write() said false) before it is dropped. */
  drainTimeoutMs: number;
  /** Requests handed on and not finished: reading pauses at this count... */
  maxInFlight: number;
  /** ...or at this many bytes of them. */
  maxInFlightBytes: number;
}

export interface PduSocketHooks {
  /** A whole PDU arrived (any command). */
  onFrame(pdu: Pdu): void;
  /** The socket closed; called once, with why (as far as we know). */
  onClose(reason: string): void;
}

/**
 * The one owner of a PDU socket, on either side of any link: client
 * connections, db-proxy and route-server links, our outgoing links and
 * clients. Only this object touches the socket.
 *
 * - Input: one frame decoder (chunks gathered, concatenated once per frame);
 *   a framing error closes the socket. `lastFrameAt` moves on whole frames
 *   only, so a peer trickling bytes does not look alive.
 * - Inbound budget: work handed on is counted (`began`/`finished`, in
 *   requests and bytes); reading pauses at either cap and resumes at half.
 * - One write path: whole PDUs, corked when several; a peer that lets more
 *   than `maxOutboundBytes` pile up, or does not drain within
 *   `drainTimeoutMs` (one unref'd timer), is dropped.
 */
export class PduSocket {
  lastFrameAt = Date.now();
  lastSendAt = Date.now();
  private readonly decoder: FrameDecoder;
  private inFlightCount = 0;
  private inFlightByteCount = 0;
  private paused = false;
  /** When reading last resumed after an in-flight pause (silence counts from then). */
  private resumedAt = 0;
  private readingStopped = false;
  private held = false;
  private ending = false;
  private closeReason = 'peer closed';
  private drainTimer: NodeJS.Timeout | null = null;
  private readonly closedPromise: Promise<void>;

  constructor(
    private readonly socket: net.Socket,
    private readonly log: Logger,
    private readonly opts: PduSocketOptions,
    private readonly hooks: PduSocketHooks,
  ) {
    this.decoder = new FrameDecoder({ maxFrameLength: opts.maxFrameLength });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // A socket handed over paused (after a handshake read on it) flows from here.
    socket.resume();
    socket.on('error', (err) => {
      this.closeReason = `socket error: ${err.message}`;
      this.log.debug({ err }, 'socket error');
    });
    socket.on('drain', () => this.clearDrainTimer());
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.clearDrainTimer();
        this.hooks.onClose(this.closeReason);
        resolve();
      }),
    );
  }

  /** Destroyed: nothing more is read or written. */
  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** Ending or closed. */
  get closing(): boolean {
    return this.ending || this.socket.destroyed;
  }

  /** Bytes written but not yet taken by the kernel. */
  get buffered(): number {
    return this.socket.writableLength;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  get inFlightBytes(): number {
    return this.inFlightByteCount;
  }

  /** Bytes held by the decoder for an incomplete frame. */
  get partialBytes(): number {
    return this.decoder.bufferedBytes;
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }

  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  setMaxFrameLength(max: number): void {
    this.decoder.setMaxFrameLength(max);
  }

  /**
   * Milliseconds since the last whole frame. While reading is paused for the
   * in-flight budget the peer's frames wait unread, so its silence is not
   * its own: 0 then, and measured again from the moment reading resumes.
   */
  silentFor(now = Date.now()): number {
    if (this.paused) return 0;
    return now - Math.max(this.lastFrameAt, this.resumedAt);
  }

  /** Writes whole PDUs (several in one syscall). False when nothing could be written. */
  write(pdus: Uint8Array | readonly Uint8Array[]): boolean {
    const s = this.socket;
    if (s.destroyed || s.writableEnded) return false;
    let flushed = true;
    if (pdus instanceof Uint8Array) {
      flushed = s.write(pdus);
    } else {
      if (pdus.length === 0) return true;
      if (pdus.length > 1) s.cork();
      for (const p of pdus) flushed = s.write(p);
      if (pdus.length > 1) s.uncork();
    }
    this.lastSendAt = Date.now();
    if (s.writableLength > this.opts.maxOutboundBytes) {
      this.destroy(`peer does not read: ${s.writableLength} bytes waiting`);
      return false;
    }
    if (!flushed && !this.drainTimer) {
      this.drainTimer = setTimeout(() => this.destroy(`peer did not drain in ${this.opts.drainTimeoutMs} ms`), this.opts.drainTimeoutMs);
      this.drainTimer.unref();
    }
    return true;
  }

  /** Counts one request (of `bytes`) handed on; reading pauses at either cap. */
  began(bytes = 0, count = 1): void {
    this.inFlightCount += count;
    this.inFlightByteCount += bytes;
    if (!this.paused && (this.inFlightCount >= this.opts.maxInFlight || this.inFlightByteCount >= this.opts.maxInFlightBytes)) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Counts requests handed on as done; reading resumes below half of both caps. */
  finished(bytes = 0, count = 1): void {
    this.inFlightCount = Math.max(0, this.inFlightCount - count);
    this.inFlightByteCount = Math.max(0, this.inFlightByteCount - bytes);
    if (
      this.paused &&
      !this.readingStopped &&
      !this.held &&
      this.inFlightCount <= this.opts.maxInFlight >> 1 &&
      this.inFlightByteCount <= this.opts.maxInFlightBytes / 2
    ) {
      this.paused = false;
      this.resumedAt = Date.now();
      this.socket.resume();
    } else if (this.paused && this.held) {
      this.paused = false;
    }
  }

  /** Pauses (true) or resumes (false) reading regardless of the in-flight budget (a client that stops reading). */
  hold(on: boolean): void {
    this.held = on;
    if (on) this.socket.pause();
    else if (!this.paused && !this.readingStopped) this.socket.resume();
  }

  /** Stops reading for good (shutdown, close). */
  stopReading(): void {
    this.readingStopped = true;
    this.socket.pause();
  }

  /** Graceful: stop reading, end (written data is flushed), destroy after `graceMs`. Idempotent. */
  end(reason: string, graceMs = 1000): void {
    if (this.closing) return;
    this.ending = true;
    this.closeReason = reason;
    this.stopReading();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), graceMs).unref();
  }

  /** Immediate: nothing more is written. Idempotent. */
  destroy(reason: string): void {
    if (this.socket.destroyed) return;
    this.ending = true;
    this.closeReason = reason;
    this.socket.destroy();
  }

  private clearDrainTimer(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
  }

  private onData(chunk: Buffer): void {
    if (this.readingStopped) return;
    const { frames, error } = this.decoder.read(chunk);
    if (frames.length > 0) this.lastFrameAt = Date.now();
    for (const f of frames) {
      if (this.closing || this.readingStopped) return;
      this.hooks.onFrame(f);
    }
    if (error && !this.closing) {
      this.log.warn({ err: error }, 'unframeable input; closing');
      this.destroy(`framing error: ${error.code}`);
    }
  }
}
