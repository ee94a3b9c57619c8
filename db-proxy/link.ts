import type net from 'node:net';
import type { Logger } from 'pino';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import type { Pdu } from '../proto/header.ts';

export interface LinkOptions {
  maxFrameLength: number;
  /** Requests of this link not yet answered; reading pauses at the cap. */
  maxInFlight: number;
  /** Bytes waiting in the socket before the peer is declared stuck and dropped. */
  maxOutboundBytes: number;
}

/**
 * One access-server link. Only this object touches its socket. It frames
 * input, keeps the in-flight count that pauses reading, and writes answers.
 */
export class Link {
  readonly uuid: number;
  readonly log: Logger;
  lastRecvAt = Date.now();
  lastSendAt = Date.now();
  private inFlight = 0;
  private paused = false;
  private readingStopped = false;
  private readonly decoder: FrameDecoder;
  private readonly closedPromise: Promise<void>;

  constructor(
    private readonly socket: net.Socket,
    uuid: number,
    log: Logger,
    private readonly opts: LinkOptions,
    private readonly onPdu: (link: Link, pdu: Pdu) => void,
    private readonly onClose: (link: Link) => void,
  ) {
    this.uuid = uuid;
    this.log = log;
    this.decoder = new FrameDecoder({ maxFrameLength: opts.maxFrameLength });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err }, 'link socket error'));
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.onClose(this);
        resolve();
      }),
    );
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** Resolves once the socket has closed. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  get pending(): number {
    return this.inFlight;
  }

  /** Writes whole PDUs in one syscall where possible. */
  write(pdus: readonly Uint8Array[]): void {
    if (this.socket.destroyed) return;
    if (pdus.length > 1) this.socket.cork();
    for (const p of pdus) this.socket.write(p);
    if (pdus.length > 1) this.socket.uncork();
    this.lastSendAt = Date.now();
    if (this.socket.writableLength > this.opts.maxOutboundBytes) {
      this.log.warn({ buffered: this.socket.writableLength }, 'link does not read its answers; dropping it');
      this.socket.destroy();
    }
  }

  /** Counts `n` requests handed on for this link. */
  began(n = 1): void {
    this.inFlight += n;
    if (!this.paused && this.inFlight >= this.opts.maxInFlight) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Counts `n` requests of this link as answered (or refused). */
  finished(n = 1): void {
    this.inFlight -= n;
    if (this.paused && !this.readingStopped && this.inFlight <= this.opts.maxInFlight >> 1) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Stops reading for good (shutdown). */
  stopReading(): void {
    this.readingStopped = true;
    this.socket.pause();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.lastRecvAt = Date.now();
    let frames: Pdu[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.log.warn({ err }, 'unframeable input; closing link');
      this.socket.destroy();
      return;
    }
    for (const f of frames) {
      if (this.socket.destroyed || this.readingStopped) return;
      this.onPdu(this, f);
    }
    if (this.decoder.error) {
      this.log.warn({ err: this.decoder.error }, 'unframeable input; closing link');
      this.socket.destroy();
    }
  }
}
