import net from 'node:net';
import type { Logger } from 'pino';
import { PduSocket } from '../common/pdu-socket.ts';
import { Cid } from '../proto/commands.ts';
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
 * connection).
 */
export class PeerLink {
  readonly name: string;
  private conn: PduSocket | null = null;
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
    const connectTimer = setTimeout(() => s.destroy(), Math.min(this.timings.timeoutMs, 5000));
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
        onFrame: (pdu) => this.onFrame(conn, pdu),
        onClose: (reason) => this.onClose(conn, reason, connectTimer),
      },
    );
    this.conn = conn;
    s.once('connect', () => {
      clearTimeout(connectTimer);
      s.setKeepAlive(true, 10_000);
      this.open = true;
      this.stopped = false;
      this.backoffMs = this.timings.reconnectMinMs;
      conn.lastFrameAt = conn.lastSendAt = Date.now();
      this.log.info({ link: this.name }, 'peer link open');
      this.handlers.onOpen(this);
    });
  }

  private onClose(conn: PduSocket, reason: string, connectTimer: NodeJS.Timeout): void {
    clearTimeout(connectTimer);
    if (this.conn !== conn) return;
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

  private onFrame(conn: PduSocket, f: Pdu): void {
    if (this.conn !== conn) return;
    const cid = f.header.commandId;
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
