import type net from 'node:net';
import type { Logger } from 'pino';
import type { Pdu } from '../proto/header.ts';
import { PduSocket } from './pdu-socket.ts';

export interface PduLinkOptions {
  maxFrameLength: number;
  /** Bytes waiting in the socket before the peer is declared stuck and dropped. */
  maxOutboundBytes: number;
  /** How long the peer may leave written data unread before it is dropped (default 30 s). */
  drainTimeoutMs?: number;
  /** Requests of this link not yet answered; reading pauses at the cap (default: no cap). */
  maxInFlight?: number;
  /** Bytes of those requests; reading pauses at the cap (default: no cap). */
  maxInFlightBytes?: number;
}

/**
 * The server side of one server-to-server link (an access server at db-proxy
 * or at a route-server), on the one socket owner (PduSocket): framing, one
 * write path with byte bounds, in-flight budgets, and TeamTalk's heartbeat
 * rule. Subclasses say what a PDU and a close mean.
 */
export abstract class PduLink {
  protected readonly conn: PduSocket;

  constructor(
    socket: net.Socket,
    readonly log: Logger,
    limits: PduLinkOptions,
  ) {
    socket.setKeepAlive(true, 10_000);
    this.conn = new PduSocket(
      socket,
      log,
      {
        maxFrameLength: limits.maxFrameLength,
        maxOutboundBytes: limits.maxOutboundBytes,
        drainTimeoutMs: limits.drainTimeoutMs ?? 30_000,
        maxInFlight: limits.maxInFlight ?? Number.MAX_SAFE_INTEGER,
        maxInFlightBytes: limits.maxInFlightBytes ?? Number.MAX_SAFE_INTEGER,
      },
      {
        onFrame: (pdu) => this.onFrame(pdu),
        onClose: (reason) => {
          this.log.debug({ reason }, 'link socket closed');
          this.onClosed();
        },
      },
    );
  }

  /** A PDU arrived (any command; heartbeats included). */
  protected abstract onFrame(pdu: Pdu): void;
  /** The socket closed; called once. */
  protected abstract onClosed(): void;

  get closed(): boolean {
    return this.conn.closed;
  }

  /** Bytes written but not yet taken by the kernel. */
  get buffered(): number {
    return this.conn.buffered;
  }

  get remoteAddress(): string {
    return this.conn.remoteAddress;
  }

  /** Resolves once the socket has closed. */
  whenClosed(): Promise<void> {
    return this.conn.whenClosed();
  }

  /**
   * Writes whole PDUs (several in one syscall where possible); drops the link
   * when the peer does not read. False when nothing could be written.
   */
  write(pdus: Uint8Array | readonly Uint8Array[]): boolean {
    return this.conn.write(pdus);
  }

  /**
   * Server-to-server liveness (TeamTalk: heartbeat every 5 s when idle, drop
   * after 30 s without a whole frame). Called from the owner's ticker.
   */
  keepAlive(now: number, heartbeatIntervalMs: number, timeoutMs: number, heartbeat: Uint8Array): void {
    const silent = this.conn.silentFor(now);
    if (silent > timeoutMs) {
      this.log.warn({ silentMs: silent }, 'link silent too long; closing');
      this.conn.destroy(`silent for ${silent} ms`);
    } else if (now - this.conn.lastSendAt >= heartbeatIntervalMs) {
      this.write(heartbeat);
    }
  }

  /** Stops reading for good (shutdown). */
  stopReading(): void {
    this.conn.stopReading();
  }

  end(): void {
    this.conn.end('closing', 60_000);
  }

  destroy(reason = 'dropped'): void {
    this.conn.destroy(reason);
  }
}
