import type net from 'node:net';
import type { Logger } from 'pino';
import { PduSocket, type PduSocketOptions } from '../common/pdu-socket.ts';
import type { Pdu } from '../proto/header.ts';

export interface PushLinkHooks {
  onPdu(link: PushLink, pdu: Pdu): void;
  onClose(link: PushLink, reason: string): void;
}

/**
 * One access-server (or TeamTalk msg_server) link at push-server, on the one
 * socket owner (PduSocket): framing with the frame cap, one write path with
 * byte bounds, and reading paused while too many of its requests wait for
 * their answer. No handshake: the listener admitted it by address.
 */
export class PushLink {
  private readonly conn: PduSocket;

  constructor(
    socket: net.Socket,
    readonly id: number,
    readonly log: Logger,
    opts: PduSocketOptions,
    hooks: PushLinkHooks,
  ) {
    socket.setKeepAlive(true, 10_000);
    this.conn = new PduSocket(socket, log, opts, {
      onFrame: (pdu) => hooks.onPdu(this, pdu),
      onClose: (reason) => hooks.onClose(this, reason),
    });
  }

  get closed(): boolean {
    return this.conn.closing;
  }

  /** Requests read and not yet answered. */
  get pending(): number {
    return this.conn.inFlight;
  }

  /** Writes whole PDUs; false when the link is gone (the answer is dropped). */
  write(pdu: Uint8Array): boolean {
    return this.conn.write(pdu);
  }

  /** A request of `bytes` was read; reading pauses at the per-link cap. */
  began(bytes: number): void {
    this.conn.began(bytes);
  }

  /** That request was answered. */
  finished(bytes: number): void {
    this.conn.finished(bytes);
  }

  silentFor(now = Date.now()): number {
    return this.conn.silentFor(now);
  }

  whenClosed(): Promise<void> {
    return this.conn.whenClosed();
  }

  stopReading(): void {
    this.conn.stopReading();
  }

  /** Graceful: what is written is flushed, then the socket closes (destroyed after `graceMs`). */
  end(reason: string, graceMs: number): void {
    this.conn.end(reason, graceMs);
  }

  destroy(reason: string): void {
    this.conn.destroy(reason);
  }
}
