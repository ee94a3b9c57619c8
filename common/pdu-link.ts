import type net from 'node:net';
import type { Logger } from 'pino';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import type { Pdu } from '../proto/header.ts';

export interface PduLinkOptions {
  maxFrameLength: number;
  /** Bytes waiting in the socket before the peer is declared stuck and dropped. */
  maxOutboundBytes: number;
}

/**
 * The server side of one server-to-server link (an access server at db-proxy
 * or at a route-server). Only this object touches its socket: it frames
 * input (a framing error closes the link), writes with a bound on unsent
 * bytes, and keeps the link alive with TeamTalk's heartbeat rule.
 * Subclasses say what a PDU and a close mean.
 */
export abstract class PduLink {
  lastRecvAt = Date.now();
  lastSendAt = Date.now();
  protected readingStopped = false;
  private readonly decoder: FrameDecoder;
  private readonly closedPromise: Promise<void>;

  constructor(
    protected readonly socket: net.Socket,
    readonly log: Logger,
    private readonly limits: PduLinkOptions,
  ) {
    this.decoder = new FrameDecoder({ maxFrameLength: limits.maxFrameLength });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err }, 'link socket error'));
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.onClosed();
        resolve();
      }),
    );
  }

  /** A PDU arrived (any command; heartbeats included). */
  protected abstract onFrame(pdu: Pdu): void;
  /** The socket closed; called once. */
  protected abstract onClosed(): void;

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** Bytes written but not yet taken by the kernel. */
  get buffered(): number {
    return this.socket.writableLength;
  }

  /** Resolves once the socket has closed. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  /**
   * Writes whole PDUs (several in one syscall where possible); drops the link
   * when the peer does not read. False when nothing could be written.
   */
  write(pdus: Uint8Array | readonly Uint8Array[]): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    if (pdus instanceof Uint8Array) {
      this.socket.write(pdus);
    } else {
      if (pdus.length > 1) this.socket.cork();
      for (const p of pdus) this.socket.write(p);
      if (pdus.length > 1) this.socket.uncork();
    }
    this.lastSendAt = Date.now();
    if (this.socket.writableLength > this.limits.maxOutboundBytes) {
      this.log.warn({ buffered: this.socket.writableLength }, 'peer does not read; dropping its link');
      this.socket.destroy();
      return false;
    }
    return true;
  }

  /**
   * Server-to-server liveness (TeamTalk: heartbeat every 5 s when idle, drop
   * after 30 s of silence). Called from the owner's ticker.
   */
  keepAlive(now: number, heartbeatIntervalMs: number, timeoutMs: number, heartbeat: Uint8Array): void {
    if (now - this.lastRecvAt > timeoutMs) {
      this.log.warn({ silentMs: now - this.lastRecvAt }, 'link silent too long; closing');
      this.socket.destroy();
    } else if (now - this.lastSendAt >= heartbeatIntervalMs) {
      this.write(heartbeat);
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
    const { frames, error } = this.decoder.read(chunk);
    for (const f of frames) {
      if (this.socket.destroyed || this.readingStopped) return;
      this.onFrame(f);
    }
    if (error) {
      this.log.warn({ err: error }, 'unframeable input; closing link');
      this.socket.destroy();
    }
  }
}
