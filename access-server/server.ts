import net from 'node:net';
import type { Logger } from 'pino';
import type { Pdu } from '../proto/header.ts';
import { ClientConnection } from './client-conn.ts';
import type { ConnLimits } from './config.ts';
import { listen } from '../common/lifecycle.ts';

export interface ClientServerOptions {
  host: string;
  port: number;
  maxConnections: number;
  conn: ConnLimits;
  /** How long close() waits for requests in flight before closing clients. */
  shutdownTimeoutMs: number;
}

export interface ClientServerHooks {
  /** A connection was accepted (it counts towards this server's load from now on). */
  onOpen?(conn: ClientConnection): void;
  onPdu(conn: ClientConnection, pdu: Pdu): void;
  /** A connection closed (logged in or not); called once per connection. */
  onClose(conn: ClientConnection): void;
}

export interface ClientServerStats {
  accepted: number;
  /** Connections closed at once because the server was at its cap. */
  refusedOverCap: number;
  timedOut: number;
}

/** Ends every connection still open this long after close() asked them to end. */
const END_GRACE_MS = 1000;

/**
 * The client listener: accepts up to `maxConnections` (one more is closed
 * at once), gives each connection an ever-increasing id, drops connections
 * that miss the login deadline or go silent, and closes gracefully.
 */
export class ClientServer {
  readonly stats: ClientServerStats = { accepted: 0, refusedOverCap: 0, timedOut: 0 };
  private readonly server: net.Server;
  private readonly conns = new Map<number, ClientConnection>();
  private nextId = 1;
  private readonly ticker: NodeJS.Timeout;
  private closing: Promise<void> | null = null;
  private refusalLoggedAt = 0;
  private refusalsLogged = 0;

  constructor(
    private readonly opts: ClientServerOptions,
    private readonly hooks: ClientServerHooks,
    private readonly log: Logger,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
    const timeouts = [opts.conn.loginTimeoutMs, opts.conn.pcTimeoutMs, opts.conn.mobileTimeoutMs];
    this.ticker = setInterval(() => this.tick(), Math.max(20, Math.min(1000, Math.min(...timeouts) >> 2)));
    this.ticker.unref();
  }

  listen(): Promise<{ host: string; port: number }> {
    return listen(this.server, this.opts.host, this.opts.port);
  }

  /** Open connections (logged in or not). */
  get size(): number {
    return this.conns.size;
  }

  get(connId: number): ClientConnection | undefined {
    return this.conns.get(connId);
  }

  /**
   * Graceful: stop accepting and reading, let requests in flight be answered
   * (up to shutdownTimeoutMs), then end every connection. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.server.close();
      for (const c of this.conns.values()) c.stopReading();
      const deadline = Date.now() + this.opts.shutdownTimeoutMs;
      while ([...this.conns.values()].some((c) => c.pending > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      for (const c of this.conns.values()) c.close('server shutting down');
      const endBy = Date.now() + END_GRACE_MS;
      while (this.conns.size > 0 && Date.now() < endBy) await new Promise((r) => setTimeout(r, 10));
      for (const c of this.conns.values()) c.destroy('server shut down');
      clearInterval(this.ticker);
    })();
    return this.closing;
  }

  /** Immediate: drop every connection. */
  destroy(): void {
    clearInterval(this.ticker);
    this.server.close();
    for (const c of this.conns.values()) c.destroy('server destroyed');
  }

  private accept(socket: net.Socket): void {
    if (this.closing || this.conns.size >= this.opts.maxConnections) {
      this.stats.refusedOverCap++;
      // A flood at the cap must not turn into a flood of log lines: one a second, with the count.
      const now = Date.now();
      if (now - this.refusalLoggedAt >= 1000) {
        this.log.warn({ open: this.conns.size, cap: this.opts.maxConnections, refusedSinceLast: this.stats.refusedOverCap - this.refusalsLogged }, 'connections refused: at capacity');
        this.refusalLoggedAt = now;
        this.refusalsLogged = this.stats.refusedOverCap;
      }
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    const id = this.nextId;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    this.stats.accepted++;
    const conn = new ClientConnection(socket, id, this.log.child({ conn: id }), this.opts.conn, {
      onPdu: (c, pdu) => this.hooks.onPdu(c, pdu),
      onClose: (c) => {
        this.conns.delete(c.id);
        c.log.debug('connection closed');
        this.hooks.onClose(c);
      },
    });
    this.conns.set(id, conn);
    this.hooks.onOpen?.(conn);
    if (conn.log.isLevelEnabled('debug')) conn.log.debug({ peer: `${socket.remoteAddress}:${socket.remotePort}` }, 'connection open');
  }

  private tick(): void {
    const now = Date.now();
    for (const c of this.conns.values()) {
      const why = c.expired(now);
      if (why) {
        this.stats.timedOut++;
        c.log.info({ uid: c.session?.uid, why }, 'client timed out');
        c.destroy(why);
      }
    }
  }
}
