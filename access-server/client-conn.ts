import type net from 'node:net';
import type { Logger } from 'pino';
import { Cid, encodeBody } from '../proto/commands.ts';
import { FrameDecoder } from '../proto/frame-decoder.ts';
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

/**
 * One client connection: the only owner of its socket. Frames input, echoes
 * heartbeats, counts requests in flight (reading pauses at the cap), rate
 * limits chat messages, and writes with backpressure: a client that leaves
 * written data unread past the drain timeout, or lets too many bytes pile
 * up, is disconnected.
 */
export class ClientConnection implements ClientConn {
  session: ClientSession | null = null;
  /** Set when a login request was accepted for processing (one per connection). */
  loginStarted = false;
  /** The uid a login in progress validated as (before `session` is set). */
  pendingUid = 0;
  readonly openedAt = Date.now();
  lastRecvAt = Date.now();
  private readonly decoder: FrameDecoder;
  private inFlight = 0;
  private paused = false;
  private readingStopped = false;
  private ending = false;
  private drainTimer: NodeJS.Timeout | null = null;
  private tokens: number;
  private refilledAt = Date.now();

  constructor(
    private readonly socket: net.Socket,
    readonly id: number,
    /** Gains `uid` once logged in. */
    public log: Logger,
    private readonly limits: ConnLimits,
    private readonly hooks: ConnHooks,
  ) {
    this.decoder = new FrameDecoder({ maxFrameLength: limits.maxFrameBytes });
    this.tokens = limits.msgBurst;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err }, 'client socket error'));
    socket.once('close', () => {
      if (this.drainTimer) clearTimeout(this.drainTimer);
      this.hooks.onClose(this);
    });
  }

  get remoteAddress(): string { return this.socket.remoteAddress ?? ''; }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** Ending or closed: nothing more is read or written. */
  get closing(): boolean {
    return this.ending || this.socket.destroyed;
  }

  get pending(): number {
    return this.inFlight;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  send(commandId: number, message: object, seqNum = 0): void {
    if (this.closing) return;
    this.write(encodePdu({ commandId, seqNum }, encodeBody(commandId, message as never)));
  }

  /** Writes one whole, already encoded PDU (pushes shared by many connections). */
  sendPdu(pdu: Uint8Array): void {
    if (!this.closing) this.write(pdu);
  }

  /** Ends the connection (`kick`: duplicate-login kick first). Idempotent. */
  close(reason: string): void {
    if (reason === 'kick') {
      this.kick(KickReason.DUPLICATE_USER);
      return;
    }
    if (this.closing) return;
    this.ending = true;
    this.log.info({ reason }, 'closing client connection');
    this.stopReading();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
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
    if (this.socket.destroyed) return;
    this.log.warn({ reason }, 'dropping client connection');
    this.ending = true;
    this.socket.destroy();
  }

  /** Counts a request handed to a handler; reading pauses at the cap. */
  began(): void {
    this.inFlight++;
    if (!this.paused && this.inFlight >= this.limits.maxInFlight) {
      this.paused = true;
      this.socket.pause();
    }
  }

  finished(): void {
    this.inFlight--;
    if (this.paused && !this.readingStopped && this.inFlight <= this.limits.maxInFlight >> 1) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Stops reading for good (shutdown, close). */
  stopReading(): void {
    this.readingStopped = true;
    this.socket.pause();
  }

  /** Takes one chat-message token; false when the connection is over its rate. */
  takeMessageToken(now = Date.now()): boolean {
    const elapsed = now - this.refilledAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.limits.msgBurst, this.tokens + (elapsed * this.limits.msgRatePerSec) / 1000);
      this.refilledAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Why this connection must go now (login deadline, silence), or null. */
  expired(now: number): string | null {
    if (!this.session && now - this.openedAt > this.limits.loginTimeoutMs) return 'login timeout';
    const silentMs = now - this.lastRecvAt;
    const limit = this.session && isMobile(this.session.clientType) ? this.limits.mobileTimeoutMs : this.limits.pcTimeoutMs;
    return silentMs > limit ? `silent for ${silentMs} ms` : null;
  }

  private write(pdu: Uint8Array): void {
    const s = this.socket;
    const flushed = s.write(pdu);
    if (s.writableLength > this.limits.maxOutboundBytes) {
      this.destroy(`client does not read: ${s.writableLength} bytes waiting`);
      return;
    }
    if (!flushed && !this.drainTimer) {
      this.drainTimer = setTimeout(() => this.destroy(`client did not drain in ${this.limits.drainTimeoutMs} ms`), this.limits.drainTimeoutMs);
      this.drainTimer.unref();
      s.once('drain', () => {
        if (this.drainTimer) clearTimeout(this.drainTimer);
        this.drainTimer = null;
      });
    }
  }

  private onData(chunk: Buffer): void {
    if (this.readingStopped) return;
    this.lastRecvAt = Date.now();
    const { frames, error } = this.decoder.read(chunk);
    for (const f of frames) {
      if (this.closing || this.readingStopped) return;
      if (f.header.commandId === Cid.CID_OTHER_HEARTBEAT) {
        this.write(encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT, seqNum: f.header.seqNum }, new Uint8Array(0)));
        continue;
      }
      this.hooks.onPdu(this, f);
    }
    if (error && !this.closing) {
      this.log.warn({ err: error }, 'unframeable client input; closing');
      this.destroy('framing error');
    }
  }
}
