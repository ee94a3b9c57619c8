import net from 'node:net';
import type { Logger } from 'pino';
import { ClientHandshake } from '../common/cluster-auth.ts';
import { PduSocket } from '../common/pdu-socket.ts';
import { Cid, decodeBody } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import type { PeerAddress, PeerLinkTimings } from './config.ts';

const HEARTBEAT_PDU = encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT }, new Uint8Array(0));

export interface PeerLinkHandlers {
  /** The link (re)connected. */
  onOpen(link: PeerLink): void;
  /** A PDU other than heartbeat and stop-receive arrived. */
  onPdu(link: PeerLink, pdu: Pdu): void;
  /** The link went down (it reconnects by itself unless closed). */
  onDown(link: PeerLink): void;
}

/**
 * One link to a server-to-server peer (db-proxy, route-server), each
 * connection on the one socket owner (PduSocket). It reconnects at once and
 * then with a short backoff (reconnectMinMs doubling up to reconnectMaxMs,
 * ~1 s, so a restarted peer is back within about a second), heartbeats when
 * idle, drops the peer after a silence without whole frames, and stops being
 * `usable` when the peer says CID_OTHER_STOP_RECV_PACKET (until the next
 * connection). With a CLUSTER_SECRET, a connection is open only once the
 * peer accepted our handshake (common/cluster-auth.ts).
 */
export class PeerLink {
  readonly name: string;
  private conn: PduSocket | null = null;
  /** The handshake of the current connection while it goes on. */
  private handshake: ClientHandshake | null = null;
  private open = false;
  private stopped = false;
  private closed = false;
  private backoffMs: number;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly ticker: NodeJS.Timeout;

  constructor(
    readonly address: PeerAddress,
    index: number,
    private readonly timings: PeerLinkTimings,
    readonly log: Logger,
    private readonly handlers: PeerLinkHandlers,
  ) {
    this.name = `${address.host}:${address.port}#${index}`;
    this.backoffMs = timings.reconnectMinMs;
    this.ticker = setInterval(() => this.tick(), Math.max(20, Math.min(1000, timings.heartbeatMs >> 1)));
    this.ticker.unref();
    this.connect();
  }

  /** Open and not told to stop sending. */
  get usable(): boolean {
    return this.open && !this.stopped;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Writes one PDU; false when the link is not open (nothing is queued for later). */
  write(pdu: Uint8Array): boolean {
    const c = this.conn;
    if (!this.open || !c) return false;
    return c.write(pdu);
  }

  /** Drops the current connection (it reconnects unless closed). */
  drop(reason: string): void {
    this.conn?.destroy(reason);
  }

  /** For good: no reconnect. Ends the socket, destroys it after `graceMs`. */
  close(graceMs = 500): void {
    this.closed = true;
    clearInterval(this.ticker);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.conn?.end('link closed', graceMs);
  }

  private connect(): void {
    if (this.closed) return;
    const s = net.connect({ host: this.address.host, port: this.address.port });
    const connectTimer = setTimeout(() => conn.destroy(this.handshake ? 'handshake timed out' : 'connect timed out'), Math.min(this.timings.timeoutMs, 5000));
    connectTimer.unref();
    const conn = new PduSocket(
      s,
      this.log,
      {
        maxFrameLength: this.timings.maxFrameBytes,
        maxOutboundBytes: this.timings.maxOutboundBytes,
        drainTimeoutMs: this.timings.timeoutMs,
        maxInFlight: Number.MAX_SAFE_INTEGER,
        maxInFlightBytes: Number.MAX_SAFE_INTEGER,
      },
      {
        onFrame: (pdu) => this.onFrame(conn, pdu, connectTimer),
        onClose: (reason) => this.onClose(conn, reason, connectTimer),
      },
    );
    this.conn = conn;
    s.once('connect', () => {
      s.setKeepAlive(true, 10_000);
      const secret = this.timings.secret;
      if (!secret) {
        clearTimeout(connectTimer);
        this.markOpen(conn);
        return;
      }
      // The connect timer now bounds the handshake.
      this.handshake = new ClientHandshake(secret, this.timings.identity);
      conn.write(this.handshake.hello());
    });
  }

  private markOpen(conn: PduSocket): void {
    this.handshake = null;
    this.open = true;
    this.stopped = false;
    this.backoffMs = this.timings.reconnectMinMs;
    conn.lastFrameAt = conn.lastSendAt = Date.now();
    this.log.info({ link: this.name }, 'peer link open');
    this.handlers.onOpen(this);
  }

  private onClose(conn: PduSocket, reason: string, connectTimer: NodeJS.Timeout): void {
    clearTimeout(connectTimer);
    if (this.conn !== conn) return;
    this.handshake = null;
    const wasOpen = this.open;
    this.open = false;
    this.conn = null;
    if (wasOpen) {
      this.log.warn({ link: this.name, reason }, 'peer link down');
      this.handlers.onDown(this);
    }
    if (this.closed) return;
    // The first retry after a working link is immediate-ish; failures back off up to reconnectMaxMs.
    const delay = wasOpen ? Math.min(this.backoffMs, this.timings.reconnectMinMs) : this.backoffMs;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
    if (!wasOpen) this.backoffMs = Math.min(this.backoffMs * 2, this.timings.reconnectMaxMs);
  }

  private onFrame(conn: PduSocket, f: Pdu, connectTimer: NodeJS.Timeout): void {
    if (this.conn !== conn) return;
    const cid = f.header.commandId;
    if (this.handshake) {
      const step = this.handshake.onFrame(f);
      if (step.reply) conn.write(step.reply);
      if (step.error) {
        this.log.error({ link: this.name, err: step.error }, 'peer link not authenticated; retrying');
        conn.destroy(step.error.message);
      } else if (step.done) {
        clearTimeout(connectTimer);
        this.markOpen(conn);
      }
      return;
    }
    if (cid === Cid.CID_EXT_AUTH_RESULT) {
      // After the handshake, only a refusal (e.g. our server id is held by another live server); the peer closes the link.
      let why = 'undecodable refusal';
      try {
        why = decodeBody(Cid.CID_EXT_AUTH_RESULT, f.body).resultString ?? '';
      } catch {
        // keep the placeholder
      }
      this.log.error({ link: this.name, reason: why }, 'peer refused this link');
      return;
    }
    if (cid === Cid.CID_OTHER_HEARTBEAT) return;
    if (cid === Cid.CID_OTHER_STOP_RECV_PACKET) {
      this.stopped = true;
      this.log.info({ link: this.name }, 'peer stops receiving; link no longer used for new work');
      return;
    }
    this.handlers.onPdu(this, f);
  }

  private tick(): void {
    const c = this.conn;
    if (!this.open || !c) return;
    const now = Date.now();
    if (c.silentFor(now) > this.timings.timeoutMs) {
      this.log.warn({ link: this.name }, 'peer silent too long; reconnecting');
      c.destroy('peer silent');
    } else if (now - c.lastSendAt >= this.timings.heartbeatMs) {
      c.write(HEARTBEAT_PDU);
    }
  }
}
