import net from 'node:net';
import type { Logger } from 'pino';
import { Cid } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import { packRequests, unpackReplies } from './batch.ts';
import { Batcher, type QueuedRequest } from './batcher.ts';
import type { Executor } from './executor.ts';
import { Link, type LinkOptions } from './link.ts';
import { orderKeyOf } from './order-key.ts';
import { refusal } from './refusal.ts';
import type { Registry } from './handlers/types.ts';
import { listen, settleWithin } from '../common/lifecycle.ts';

export interface ServerOptions extends LinkOptions {
  host: string;
  port: number;
  batchMax: number;
  batchWindowMs: number;
  maxInFlightBatches: number;
  maxQueued: number;
  /** Idle period after which we send a heartbeat (TeamTalk: 5 s). */
  heartbeatIntervalMs: number;
  /** Silence after which a link is dropped (TeamTalk: 30 s). */
  linkTimeoutMs: number;
  /** How long a graceful close waits for in-flight work. */
  shutdownTimeoutMs: number;
}

export interface ServerStats {
  links: number;
  requests: number;
  replies: number;
  /** Answers whose link was gone when they were ready. */
  repliesDropped: number;
  refusedOverload: number;
  unknownCommands: number;
}

const HEARTBEAT_PDU = encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT }, new Uint8Array(0));
const STOP_RECV_PDU = encodePdu({ commandId: Cid.CID_OTHER_STOP_RECV_PACKET }, new Uint8Array(0));

/**
 * db-proxy's event loop: accepts links, frames PDUs, answers heartbeats,
 * batches requests to the executor and writes the answers back by link uuid.
 */
export class DbProxyServer {
  readonly stats: ServerStats = { links: 0, requests: 0, replies: 0, repliesDropped: 0, refusedOverload: 0, unknownCommands: 0 };
  private readonly server: net.Server;
  private readonly links = new Map<number, Link>();
  /** Message data: gathers while batches run, so one commit carries many messages. */
  private readonly commits: Batcher;
  /** Everything else: dispatched at once, a window only adds latency to reads. */
  private readonly others: Batcher;
  private nextUuid = 1;
  private readonly ticker: NodeJS.Timeout;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly opts: ServerOptions,
    private readonly executor: Executor,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    this.commits = new Batcher(opts, (batch) => this.runBatch(batch));
    this.others = new Batcher({ ...opts, batchWindowMs: 0 }, (batch) => this.runBatch(batch));
    this.server = net.createServer((socket) => this.accept(socket));
    this.ticker = setInterval(() => this.tick(), Math.min(1000, opts.heartbeatIntervalMs));
    this.ticker.unref();
  }

  listen(): Promise<{ host: string; port: number }> {
    return listen(this.server, this.opts.host, this.opts.port);
  }

  get queued(): number {
    return this.commits.queued + this.others.queued;
  }

  /**
   * Graceful: stop accepting, tell links to stop sending, stop reading,
   * answer everything in flight (up to shutdownTimeoutMs), then close links.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.server.close();
      for (const link of this.links.values()) {
        link.write([STOP_RECV_PDU]);
        link.stopReading();
      }
      await settleWithin(Promise.all([this.commits.idle(), this.others.idle()]), this.opts.shutdownTimeoutMs);
      for (const link of this.links.values()) link.end();
      clearInterval(this.ticker);
      await settleWithin(Promise.all([...this.links.values()].map((l) => l.whenClosed())), 500);
      for (const link of this.links.values()) link.destroy();
    })();
    return this.closing;
  }

  /** Immediate: drop every link; in-flight answers are lost (nothing unacked is acked). */
  destroy(): void {
    clearInterval(this.ticker);
    this.server.close();
    for (const link of this.links.values()) link.destroy();
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const uuid = this.nextUuid;
    this.nextUuid = this.nextUuid >= 0xffffffff ? 1 : this.nextUuid + 1;
    const link = new Link(
      socket,
      uuid,
      this.log.child({ link: uuid, peer: `${socket.remoteAddress}:${socket.remotePort}` }),
      this.opts,
      (l, pdu) => this.onPdu(l, pdu),
      (l) => {
        this.links.delete(l.uuid);
        this.stats.links = this.links.size;
        l.log.info('link closed');
      },
    );
    this.links.set(uuid, link);
    this.stats.links = this.links.size;
    link.log.info('link open');
  }

  private onPdu(link: Link, pdu: Pdu): void {
    const { commandId, seqNum } = pdu.header;
    if (commandId === Cid.CID_OTHER_HEARTBEAT) return;
    this.stats.requests++;
    if (!this.registry.has(commandId)) {
      this.stats.unknownCommands++;
      link.log.warn({ commandId, seqNum }, 'unknown command');
      return;
    }
    const req: QueuedRequest = { uuid: link.uuid, commandId, seqNum, body: pdu.body, orderKey: orderKeyOf(commandId, pdu.body) };
    link.began();
    const batcher = commandId === Cid.CID_MSG_DATA ? this.commits : this.others;
    if (!batcher.add(req)) {
      this.stats.refusedOverload++;
      const answer = refusal(this.registry, req, 'overloaded');
      link.finished();
      if (answer) link.write([answer]);
    }
  }

  private async runBatch(batch: QueuedRequest[]): Promise<void> {
    let replies;
    try {
      replies = unpackReplies(await this.executor.run(packRequests(batch)));
    } catch (err) {
      // The executor itself failed (worker crash): refuse the whole batch explicitly.
      this.log.error({ err, size: batch.length }, 'batch failed');
      replies = batch.flatMap((r) => {
        const pdu = refusal(this.registry, r, 'internal');
        return pdu ? [{ uuid: r.uuid, pdu }] : [];
      });
    }
    this.deliver(batch, replies);
  }

  private deliver(batch: QueuedRequest[], replies: { uuid: number; pdu: Uint8Array }[]): void {
    const perLink = new Map<number, Uint8Array[]>();
    for (const r of replies) {
      let list = perLink.get(r.uuid);
      if (!list) perLink.set(r.uuid, (list = []));
      list.push(r.pdu);
    }
    const counts = new Map<number, number>();
    for (const r of batch) counts.set(r.uuid, (counts.get(r.uuid) ?? 0) + 1);
    for (const [uuid, n] of counts) this.links.get(uuid)?.finished(n);
    for (const [uuid, pdus] of perLink) {
      const link = this.links.get(uuid);
      if (!link || link.closed) {
        this.stats.repliesDropped += pdus.length;
        continue;
      }
      this.stats.replies += pdus.length;
      link.write(pdus);
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const link of this.links.values()) link.keepAlive(now, this.opts.heartbeatIntervalMs, this.opts.linkTimeoutMs, HEARTBEAT_PDU);
  }
}
