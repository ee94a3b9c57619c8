import net from 'node:net';
import type { Logger } from 'pino';
import { Cid } from '../proto/commands.ts';
import { FrameDecoder } from '../proto/frame-decoder.ts';
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
 * One link to a server-to-server peer (db-proxy, route-server). Only this
 * object touches its socket. It reconnects with backoff (100 ms doubling to
 * 5 s), heartbeats when idle, drops the peer after a silence, and stops
 * being `usable` when the peer says CID_OTHER_STOP_RECV_PACKET (until the
 * next connection).
 */
export class PeerLink {
  readonly name: string;
  lastRecvAt = 0;
  lastSendAt = 0;
  private socket: net.Socket | null = null;
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
    const s = this.socket;
    if (!this.open || !s) return false;
    s.write(pdu);
    this.lastSendAt = Date.now();
    if (s.writableLength > this.timings.maxOutboundBytes) {
      this.log.warn({ buffered: s.writableLength }, 'peer does not read; dropping the link');
      s.destroy();
    }
    return true;
  }

  /** For good: no reconnect. Ends the socket, destroys it after `graceMs`. */
  close(graceMs = 500): void {
    this.closed = true;
    clearInterval(this.ticker);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const s = this.socket;
    if (s && !s.destroyed) {
      s.end();
      setTimeout(() => s.destroy(), graceMs).unref();
    }
  }

  private connect(): void {
    if (this.closed) return;
    const s = net.connect({ host: this.address.host, port: this.address.port });
    this.socket = s;
    const decoder = new FrameDecoder({ maxFrameLength: this.timings.maxFrameBytes });
    const connectTimer = setTimeout(() => s.destroy(), Math.min(this.timings.timeoutMs, 5000));
    connectTimer.unref();
    s.setNoDelay(true);
    s.once('connect', () => {
      clearTimeout(connectTimer);
      this.open = true;
      this.stopped = false;
      this.backoffMs = this.timings.reconnectMinMs;
      this.lastRecvAt = this.lastSendAt = Date.now();
      this.log.info({ link: this.name }, 'peer link open');
      this.handlers.onOpen(this);
    });
    s.on('data', (chunk: Buffer) => this.onData(s, decoder, chunk));
    s.on('error', (err) => this.log.debug({ err, link: this.name }, 'peer link error'));
    s.on('close', () => {
      clearTimeout(connectTimer);
      const wasOpen = this.open;
      this.open = false;
      if (this.socket === s) this.socket = null;
      if (wasOpen) {
        this.log.warn({ link: this.name }, 'peer link down');
        this.handlers.onDown(this);
      }
      if (this.closed) return;
      this.reconnectTimer = setTimeout(() => this.connect(), this.backoffMs);
      this.reconnectTimer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, this.timings.reconnectMaxMs);
    });
  }

  private onData(s: net.Socket, decoder: FrameDecoder, chunk: Buffer): void {
    this.lastRecvAt = Date.now();
    const { frames, error } = decoder.read(chunk);
    for (const f of frames) {
      if (s.destroyed) return;
      const cid = f.header.commandId;
      if (cid === Cid.CID_OTHER_HEARTBEAT) continue;
      if (cid === Cid.CID_OTHER_STOP_RECV_PACKET) {
        this.stopped = true;
        this.log.info({ link: this.name }, 'peer stops receiving; link no longer used for new work');
        continue;
      }
      this.handlers.onPdu(this, f);
    }
    if (error) {
      this.log.warn({ err: error, link: this.name }, 'unframeable input from peer; reconnecting');
      s.destroy();
    }
  }

  private tick(): void {
    if (!this.open || !this.socket) return;
    const now = Date.now();
    if (now - this.lastRecvAt > this.timings.timeoutMs) {
      this.log.warn({ link: this.name }, 'peer silent too long; reconnecting');
      this.socket.destroy();
    } else if (now - this.lastSendAt >= this.timings.heartbeatMs) {
      this.write(HEARTBEAT_PDU);
    }
  }
}
