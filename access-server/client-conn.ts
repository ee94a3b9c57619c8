import type net from 'node:net';
import type { Logger } from 'pino';
import { PduSocket } from '../common/pdu-socket.ts';
import { Cid, encodeBody } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import type { ConnLimits } from './config.ts';
import { KickReason, isMobile } from './conversation.ts';
import type { ClientConn, ClientSession } from './handlers/types.ts';

export interface ConnHooks {
  /** A PDU other than a heartbeat arrived (the dispatcher takes it from here). */
  onPdu(conn: ClientConnection, pdu: Pdu): void;
  /** The socket closed; called once. */
  onClose(conn: ClientConnection): void;
}

/** Destroys an ended socket that does not close by itself within this time. */
const END_GRACE_MS = 1000;

/** A token bucket: `rate` per second, at most `burst`. */
class Bucket {
  private tokens: number;
  private refilledAt = Date.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  give(n: number): void {
    this.tokens = Math.min(this.burst, this.tokens + n);
  }

  take(n: number, now: number): boolean {
    const elapsed = now - this.refilledAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
      this.refilledAt = now;
    }
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

/**
 * One client connection on the one socket owner (PduSocket): framing with a
 * small frame cap until login, heartbeats echoed, requests in flight bounded
 * in count and bytes (reading pauses at the caps), chat and P2P traffic
 * rate-limited in messages and bytes, and writes with backpressure: a client
 * that leaves written data unread past the drain timeout, or lets too many
 * bytes pile up, is disconnected.
 */
export class ClientConnection implements ClientConn {
  /** Set when a login request was accepted for processing (one per connection). */
  loginStarted = false;
  /** The uid a login in progress validated as (before `session` is set). */
  pendingUid = 0;
  readonly openedAt = Date.now();
  readonly remoteAddress: string;
  private current: ClientSession | null = null;
  private readonly conn: PduSocket;
  private readonly messages: Bucket;
  private readonly messageBytes: Bucket;

  constructor(
    socket: net.Socket,
    readonly id: number,
    /** Gains `uid` once logged in. */
    public log: Logger,
    private readonly limits: ConnLimits,
    private readonly hooks: ConnHooks,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.messages = new Bucket(limits.msgRatePerSec, limits.msgBurst);
    this.messageBytes = new Bucket(limits.msgBytesPerSec, limits.msgBytesBurst);
    this.conn = new PduSocket(
      socket,
      log,
      {
        maxFrameLength: Math.min(limits.preLoginMaxFrameBytes, limits.maxFrameBytes),
        maxOutboundBytes: limits.maxOutboundBytes,
        drainTimeoutMs: limits.drainTimeoutMs,
        maxInFlight: limits.maxInFlight,
        maxInFlightBytes: limits.maxInFlightBytes,
      },
      {
        onFrame: (pdu) => this.onFrame(pdu),
        onClose: (reason) => {
          this.log.debug({ reason }, 'client socket closed');
          this.hooks.onClose(this);
        },
      },
    );
  }

  /** Null until login succeeds; setting it lifts the small pre-login frame cap. */
  get session(): ClientSession | null {
    return this.current;
  }

  set session(s: ClientSession | null) {
    this.current = s;
    this.conn.setMaxFrameLength(s ? this.limits.maxFrameBytes : Math.min(this.limits.preLoginMaxFrameBytes, this.limits.maxFrameBytes));
  }

  get closed(): boolean {
    return this.conn.closed;
  }

  /** Ending or closed: nothing more is read or written. */
  get closing(): boolean {
    return this.conn.closing;
  }

  get pending(): number {
    return this.conn.inFlight;
  }

  get bufferedBytes(): number {
    return this.conn.buffered;
  }

  send(commandId: number, message: object, seqNum = 0): void {
    if (this.closing) return;
    this.conn.write(encodePdu({ commandId, seqNum }, encodeBody(commandId, message as never)));
  }

  /** Writes one whole, already encoded PDU (pushes shared by many connections). */
  sendPdu(pdu: Uint8Array): void {
    if (!this.closing) this.conn.write(pdu);
  }

  /** Ends the connection (`kick`: duplicate-login kick first). Idempotent. */
  close(reason: string): void {
    if (reason === 'kick') {
      this.kick(KickReason.DUPLICATE_USER);
      return;
    }
    if (this.closing) return;
    this.log.info({ reason }, 'closing client connection');
    this.conn.end(reason, END_GRACE_MS);
  }

  /** Sends CID_LOGIN_KICK_USER (when logged in) and closes. */
  kick(kickReason: number): void {
    if (this.closing) return;
    const uid = this.session?.uid ?? this.pendingUid;
    if (uid) this.send(Cid.CID_LOGIN_KICK_USER, { userId: uid, kickReason });
    this.close(`kicked (reason ${kickReason})`);
  }

  /** Immediate close: nothing more is written. */
  destroy(reason: string): void {
    if (this.conn.closed) return;
    this.log.warn({ reason }, 'dropping client connection');
    this.conn.destroy(reason);
  }

  /** Counts a request (of `bytes`) handed to a handler; reading pauses at either cap. */
  began(bytes = 0): void {
    this.conn.began(bytes);
  }

  finished(bytes = 0): void {
    this.conn.finished(bytes);
  }

  /** Stops reading for good (shutdown, close). */
  stopReading(): void {
    this.conn.stopReading();
  }

  /** Takes `count` messages of `bytes` from the rate budgets; false (nothing taken) when over either rate. */
  takeMessageToken(count = 1, bytes = 0, now = Date.now()): boolean {
    if (!this.messages.take(count, now)) return false;
    if (this.messageBytes.take(bytes, now)) return true;
    this.messages.give(count);
    return false;
  }

  /** Why this connection must go now (login deadline, silence), or null. */
  expired(now: number): string | null {
    if (!this.session && now - this.openedAt > this.limits.loginTimeoutMs) return 'login timeout';
    const silentMs = this.conn.silentFor(now);
    const limit = this.session && isMobile(this.session.clientType) ? this.limits.mobileTimeoutMs : this.limits.pcTimeoutMs;
    return silentMs > limit ? `silent for ${silentMs} ms` : null;
  }

  private onFrame(f: Pdu): void {
    if (f.header.commandId === Cid.CID_OTHER_HEARTBEAT) {
      this.conn.write(encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT, seqNum: f.header.seqNum }, new Uint8Array(0)));
      return;
    }
    this.hooks.onPdu(this, f);
  }
}
