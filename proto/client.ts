import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ErrorCode, ImError } from '../common/errors.ts';
import { commandById, decodeBody, encodeBody, Cid } from './commands.ts';
import pino from 'pino';
import { Correlator } from '../common/correlator.ts';
import { PduSocket } from '../common/pdu-socket.ts';
import { authenticateSocket, PROCESS_INSTANCE, type PeerIdentity } from '../common/cluster-auth.ts';
import { encodePdu, type Pdu, type PduHeader } from './header.ts';

export interface ClientOptions {
  host?: string;
  port: number;
  /** Per-request timeout unless a request says otherwise. */
  requestTimeoutMs?: number;
  /** Heartbeat period; 0 disables. TeamTalk clients send one every 30 s. */
  heartbeatIntervalMs?: number;
  /** Largest PDU accepted from the server. */
  maxFrameLength?: number;
  /** Cap on requests awaiting a response (seq numbers are 16-bit). */
  maxInFlight?: number;
  connectTimeoutMs?: number;
  /** CLUSTER_SECRET of a db-proxy or route-server port: the link authenticates before connect() resolves. */
  clusterSecret?: string | Buffer | null;
  /** Who we say we are in that handshake (default: a tool). */
  identity?: PeerIdentity;
}

/** A decoded PDU: the header plus the body decoded by its command id (null when undecodable). */
const QUIET_LOG = pino({ level: 'silent' });

export interface Received {
  header: PduHeader;
  commandId: number;
  message: unknown;
  body: Uint8Array;
}

/**
 * A small protocol client: request/response matched by seq number (and the
 * expected response command), server pushes as `push` events, heartbeats.
 * A seq whose request timed out is never given to another request while its
 * late answer may still come (common/correlator.ts), so a late answer is
 * dropped, not handed to someone else. Events: `push` (Received), `close`
 * (Error | undefined).
 */
export class PduClient extends EventEmitter {
  private readonly conn: PduSocket;
  private readonly pending: Correlator<Received>;
  private readonly opts: Required<Omit<ClientOptions, 'host' | 'port' | 'clusterSecret' | 'identity'>>;
  private heartbeat: NodeJS.Timeout | null = null;
  private closedWith: Error | null = null;

  private constructor(socket: net.Socket, opts: ClientOptions) {
    super();
    this.opts = {
      requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 30_000,
      maxFrameLength: opts.maxFrameLength ?? 16 * 1024 * 1024,
      maxInFlight: opts.maxInFlight ?? 8192,
      connectTimeoutMs: opts.connectTimeoutMs ?? 5_000,
    };
    this.pending = new Correlator({ space: 'seq', maxPending: Math.min(this.opts.maxInFlight, 0xfffe) });
    this.conn = new PduSocket(
      socket,
      QUIET_LOG,
      {
        maxFrameLength: this.opts.maxFrameLength,
        maxOutboundBytes: 256 * 1024 * 1024,
        drainTimeoutMs: 60_000,
        maxInFlight: Number.MAX_SAFE_INTEGER,
        maxInFlightBytes: Number.MAX_SAFE_INTEGER,
      },
      {
        onFrame: (pdu) => this.onFrame(pdu),
        onClose: (reason) => this.fail(new ImError(ErrorCode.CONNECTION_CLOSED, `connection closed (${reason})`)),
      },
    );
    if (this.opts.heartbeatIntervalMs > 0) {
      this.heartbeat = setInterval(() => this.send(Cid.CID_OTHER_HEARTBEAT, {}), this.opts.heartbeatIntervalMs);
      this.heartbeat.unref();
    }
  }

  static async connect(opts: ClientOptions): Promise<PduClient> {
    const host = opts.host ?? '127.0.0.1';
    const timeoutMs = opts.connectTimeoutMs ?? 5_000;
    const started = Date.now();
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port: opts.port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new ImError(ErrorCode.TIMEOUT, `connect to ${host}:${opts.port} timed out`));
      }, timeoutMs);
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new ImError(ErrorCode.CONNECTION_CLOSED, `connect failed: ${err.message}`, { cause: err }));
      });
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
    });
    if (opts.clusterSecret) {
      const secret = typeof opts.clusterSecret === 'string' ? Buffer.from(opts.clusterSecret, 'utf8') : opts.clusterSecret;
      const identity = opts.identity ?? { role: 'tool', name: 'pdu-client', instance: PROCESS_INSTANCE };
      socket.on('error', () => undefined); // a reset during the handshake rejects through 'close'
      await authenticateSocket(socket, secret, identity, Math.max(100, timeoutMs - (Date.now() - started)));
      socket.removeAllListeners('error');
    }
    return new PduClient(socket, opts);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Sends a request and resolves with the PDU answering its seq number. The
   * answer must carry `expect` (default: the table's response command; a
   * db-proxy answers CID_MSG_DATA with CID_MSG_DATA), so a push that happens
   * to reuse the seq number is not taken for the answer.
   */
  request(commandId: number, message: object, options: { timeoutMs?: number; expect?: number } = {}): Promise<Received> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const timeoutMs = options.timeoutMs ?? this.opts.requestTimeoutMs;
    let opened;
    try {
      opened = this.pending.open(timeoutMs, options.expect ?? commandById(commandId)?.responseId ?? undefined, () => `command 0x${commandId.toString(16)}`);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    try {
      this.send(commandId, message, opened.id);
    } catch (err) {
      this.pending.fail(opened.id, err as Error);
    }
    return opened.answer;
  }

  /** Sends one PDU without waiting for an answer. */
  send(commandId: number, message: object, seqNum = 0): void {
    this.sendRaw(encodePdu({ commandId, seqNum }, encodeBody(commandId, message)));
  }

  /** Stops reading the socket (tests: a client that does not read); `resumeReading` undoes it. */
  pauseReading(): void {
    this.conn.hold(true);
  }

  resumeReading(): void {
    this.conn.hold(false);
  }

  /** Writes raw bytes (tests use this for malformed input). */
  sendRaw(bytes: Uint8Array): boolean {
    if (this.closedWith) return false;
    return this.conn.write(bytes);
  }

  /** Ends the connection gracefully; pending requests fail with CONNECTION_CLOSED. */
  close(): Promise<void> {
    if (this.conn.closed) return Promise.resolve();
    this.conn.end('client closed');
    return this.conn.whenClosed();
  }

  destroy(err?: Error): void {
    this.conn.destroy(err?.message ?? 'client destroyed');
    this.fail(err ?? new ImError(ErrorCode.CONNECTION_CLOSED, 'client destroyed'));
  }

  private onFrame({ header, body }: Pdu): void {
    let message: unknown = null;
    try {
      message = decodeBody(header.commandId, body);
    } catch {
      // Undecodable or unknown bodies are still surfaced with message null.
    }
    const received: Received = { header, commandId: header.commandId, message, body };
    const outcome = header.seqNum === 0 ? 'unknown' : this.pending.settle(header.seqNum, header.commandId, () => received);
    if (outcome === 'unknown') this.emit('push', received);
  }

  private fail(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.pending.failAll(err);
    this.emit('close', err);
  }
}
