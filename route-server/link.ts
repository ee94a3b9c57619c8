import type net from 'node:net';
import type { Logger } from 'pino';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import type { Pdu } from '../proto/header.ts';

export interface LinkOptions {
  maxFrameLength: number;
  /** Bytes waiting in the socket before the peer is declared stuck and dropped. */
  maxOutboundBytes: number;
}

/**
 * One access-server link. Only this object touches its socket: it frames
 * input, hands each PDU on, and writes with a bound on unsent bytes.
 */
export class RouteLink {
  readonly id: number;
  readonly log: Logger;
  lastRecvAt = Date.now();
  lastSendAt = Date.now();
  /** The server id (`host_name`) once the link has registered. */
  serverId: string | null = null;
  private readonly decoder: FrameDecoder;

  constructor(
    private readonly socket: net.Socket,
    id: number,
    log: Logger,
    private readonly opts: LinkOptions,
    private readonly onPdu: (link: RouteLink, pdu: Pdu) => void,
    private readonly onClose: (link: RouteLink) => void,
  ) {
    this.id = id;
    this.log = log;
    this.decoder = new FrameDecoder({ maxFrameLength: opts.maxFrameLength });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err }, 'link socket error'));
    socket.on('close', () => this.onClose(this));
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** Bytes written but not yet taken by the kernel. */
  get buffered(): number {
    return this.socket.writableLength;
  }

  /** Writes one whole PDU; drops the link when the peer does not read. False when not written. */
  write(pdu: Uint8Array): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    this.socket.write(pdu);
    this.lastSendAt = Date.now();
    if (this.socket.writableLength > this.opts.maxOutboundBytes) {
      this.log.warn({ buffered: this.socket.writableLength }, 'access server does not read; dropping its link');
      this.socket.destroy();
      return false;
    }
    return true;
  }

  /** Resolves once the socket has closed. */
  whenClosed(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /** Stops reading for good (shutdown). */
  stopReading(): void {
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
      if (this.socket.destroyed) return;
      this.onPdu(this, f);
    }
    if (this.decoder.error) {
      this.log.warn({ err: this.decoder.error }, 'unframeable input; closing link');
      this.socket.destroy();
    }
  }
}
