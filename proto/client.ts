import { EventEmitter } from 'node:events';
import net from 'node:net';
import { ErrorCode, ImError } from '../common/errors.ts';
import { commandById, decodeBody, encodeBody, Cid } from './commands.ts';
import { FrameDecoder } from './frame-decoder.ts';
import { encodePdu, type PduHeader } from './header.ts';

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
}

/** A decoded PDU: the header plus the body decoded by its command id (null when undecodable). */
export interface Received {
  header: PduHeader;
  commandId: number;
  message: unknown;
  body: Uint8Array;
}

interface Pending {
  expect: number | undefined;
  resolve: (r: Received) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A small protocol client: request/response matched by seq number (and the
 * expected response command), server pushes as `push` events, heartbeats.
 * Events: `push` (Received), `close` (Error | undefined).
 */
export class PduClient extends EventEmitter {
  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private readonly opts: Required<Omit<ClientOptions, 'host' | 'port'>>;
  private nextSeq = 1;
  private heartbeat: NodeJS.Timeout | null = null;
  private closedWith: Error | null = null;

  private constructor(socket: net.Socket, opts: ClientOptions) {
    super();
    this.socket = socket;
    this.opts = {
      requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 30_000,
      maxFrameLength: opts.maxFrameLength ?? 16 * 1024 * 1024,
      maxInFlight: opts.maxInFlight ?? 8192,
      connectTimeoutMs: opts.connectTimeoutMs ?? 5_000,
    };
    this.decoder = new FrameDecoder({ maxFrameLength: this.opts.maxFrameLength });
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new ImError(ErrorCode.CONNECTION_CLOSED, 'connection closed')));
    if (this.opts.heartbeatIntervalMs > 0) {
      this.heartbeat = setInterval(() => this.send(Cid.CID_OTHER_HEARTBEAT, {}), this.opts.heartbeatIntervalMs);
      this.heartbeat.unref();
    }
  }

  static connect(opts: ClientOptions): Promise<PduClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: opts.host ?? '127.0.0.1', port: opts.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ImError(ErrorCode.TIMEOUT, `connect to ${opts.host ?? '127.0.0.1'}:${opts.port} timed out`));
      }, opts.connectTimeoutMs ?? 5_000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new ImError(ErrorCode.CONNECTION_CLOSED, `connect failed: ${err.message}`, { cause: err }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new PduClient(socket, opts));
      });
    });
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
    if (this.pending.size >= this.opts.maxInFlight) {
      return Promise.reject(new ImError(ErrorCode.TOO_MANY_IN_FLIGHT, `${this.pending.size} requests in flight`));
    }
    const seq = this.allocSeq();
    return new Promise<Received>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.opts.requestTimeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new ImError(ErrorCode.TIMEOUT, `no answer to command 0x${commandId.toString(16)} seq ${seq} in ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(seq, { expect: options.expect ?? commandById(commandId)?.responseId ?? undefined, resolve, reject, timer });
      this.send(commandId, message, seq);
    });
  }

  /** Sends one PDU without waiting for an answer. */
  send(commandId: number, message: object, seqNum = 0): void {
    this.sendRaw(encodePdu({ commandId, seqNum }, encodeBody(commandId, message)));
  }

  /** Writes raw bytes (tests use this for malformed input). */
  sendRaw(bytes: Uint8Array): boolean {
    if (this.closedWith) return false;
    return this.socket.write(bytes);
  }

  /** Ends the connection gracefully; pending requests fail with CONNECTION_CLOSED. */
  close(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }

  destroy(err?: Error): void {
    this.socket.destroy();
    this.fail(err ?? new ImError(ErrorCode.CONNECTION_CLOSED, 'client destroyed'));
  }

  private allocSeq(): number {
    for (;;) {
      const seq = this.nextSeq;
      this.nextSeq = seq >= 0xffff ? 1 : seq + 1;
      if (!this.pending.has(seq)) return seq;
    }
  }

  private onData(chunk: Buffer): void {
    const { frames, error } = this.decoder.read(chunk);
    for (const { header, body } of frames) {
      let message: unknown = null;
      try {
        message = decodeBody(header.commandId, body);
      } catch {
        // Undecodable or unknown bodies are still surfaced with message null.
      }
      const received: Received = { header, commandId: header.commandId, message, body };
      const p = header.seqNum !== 0 ? this.pending.get(header.seqNum) : undefined;
      if (p && (p.expect === undefined || p.expect === header.commandId)) {
        this.pending.delete(header.seqNum);
        clearTimeout(p.timer);
        p.resolve(received);
      } else {
        this.emit('push', received);
      }
    }
    if (error) this.destroy(error);
  }

  private fail(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(seq);
    }
    this.emit('close', err);
  }
}
