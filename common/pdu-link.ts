import type net from 'node:net';
import type { Logger } from 'pino';
import type { Pdu } from '../proto/header.ts';
import { AuthResult, PRE_AUTH_MAX_FRAME_BYTES, refusalPdu, ServerGate, type Admission, type LinkAuthPolicy } from './cluster-auth.ts';
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
  /** Who may use the link (common/cluster-auth.ts). */
  auth: LinkAuthPolicy;
}

/**
 * The server side of one server-to-server link (an access server at db-proxy
 * or at a route-server), on the one socket owner (PduSocket): framing, one
 * write path with byte bounds, in-flight budgets, and TeamTalk's heartbeat
 * rule. Nothing but the handshake of common/cluster-auth.ts is read before
 * the link is admitted (frames capped at a few hundred bytes, dropped when
 * the handshake takes too long). Subclasses say what a PDU, an admission and
 * a close mean.
 */
export abstract class PduLink {
  protected readonly conn: PduSocket;
  private readonly gate: ServerGate;
  private readonly maxFrameLength: number;

  constructor(
    socket: net.Socket,
    readonly log: Logger,
    limits: PduLinkOptions,
  ) {
    socket.setKeepAlive(true, 10_000);
    this.gate = new ServerGate(limits.auth, socket.remoteAddress ?? '');
    this.maxFrameLength = limits.maxFrameLength;
    const preAuth = this.gate.admission === null && !this.gate.trustedAddress;
    this.conn = new PduSocket(
      socket,
      log,
      {
        maxFrameLength: preAuth ? Math.min(PRE_AUTH_MAX_FRAME_BYTES, limits.maxFrameLength) : limits.maxFrameLength,
        maxOutboundBytes: limits.maxOutboundBytes,
        drainTimeoutMs: limits.drainTimeoutMs ?? 30_000,
        maxInFlight: limits.maxInFlight ?? Number.MAX_SAFE_INTEGER,
        maxInFlightBytes: limits.maxInFlightBytes ?? Number.MAX_SAFE_INTEGER,
      },
      {
        onFrame: (pdu) => this.receive(pdu),
        onClose: (reason) => {
          this.log.debug({ reason }, 'link socket closed');
          this.onClosed();
        },
      },
    );
    // A link admitted at accept (no secret: open) is announced once the subclass is built, before any data.
    const open = this.gate.admission;
    if (open) queueMicrotask(() => void this.admit(open));
  }

  /** A PDU arrived on an admitted link (any command; heartbeats included). */
  protected abstract onFrame(pdu: Pdu): void;
  /**
   * The link was admitted (authenticated, trusted by address, or open), before
   * any onFrame: null takes it, a reason refuses it (e.g. no room).
   */
  protected onAdmitted(admission: Admission): string | null {
    this.log.debug({ admission: admission.kind }, 'link admitted');
    return null;
  }
  /** The socket closed; called once. */
  protected abstract onClosed(): void;

  /** How the link was admitted; null while its handshake goes on. */
  get admission(): Admission | null {
    return this.gate.admission;
  }

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
    if (this.gate.admission === null) {
      // A TeamTalk server from a trusted address is admitted by its first PDU, which on an idle
      // link (a msg_server's to db-proxy) is its first heartbeat, 5 s on: it gets the link timeout.
      if (this.gate.trustedAddress) {
        if (this.conn.silentFor(now) > timeoutMs) this.conn.destroy(`silent for ${this.conn.silentFor(now)} ms`);
      } else if (!this.gate.inTime(now)) {
        this.log.warn({ peer: this.gate.remoteAddress }, 'link did not authenticate in time; closing');
        this.conn.destroy('handshake timeout');
      }
      return;
    }
    const silent = this.conn.silentFor(now);
    if (silent > timeoutMs) {
      this.log.warn({ silentMs: silent }, 'link silent too long; closing');
      this.conn.destroy(`silent for ${silent} ms`);
    } else if (now - this.conn.lastSendAt >= heartbeatIntervalMs) {
      this.write(heartbeat);
    }
  }

  private receive(pdu: Pdu): void {
    if (this.gate.admission !== null) {
      this.onFrame(pdu);
      return;
    }
    const step = this.gate.onFrame(pdu);
    if (step.close) {
      if (step.reply) this.conn.write(step.reply);
      this.log.warn({ peer: this.gate.remoteAddress, reason: step.close }, 'link refused');
      this.conn.end(step.close, 200);
      return;
    }
    if (step.admitted && !this.admit(step.admitted)) return;
    if (step.reply) this.conn.write(step.reply);
    if (step.pass) this.onFrame(pdu);
  }

  /** Lets the subclass take the admitted link; a refusal is told to the peer, then the link ends. */
  private admit(admission: Admission): boolean {
    this.conn.setMaxFrameLength(this.maxFrameLength);
    const why = this.onAdmitted(admission);
    if (why === null) return true;
    this.conn.write(refusalPdu(AuthResult.AUTH_REFUSED, why));
    this.conn.end(why, 200);
    return false;
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
