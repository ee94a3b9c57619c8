import net from 'node:net';
import type { Logger } from 'pino';
import { Cid } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import { packRequests, unpackReplies, type BatchReply } from './batch.ts';
import { Batcher, type QueuedRequest } from './batcher.ts';
import { DeadlineQueue } from './deadlines.ts';
import type { Executor } from './executor.ts';
import { Link, type LinkOptions } from './link.ts';
import { OrderGate } from './order-gate.ts';
import { orderKeysOf } from './order-key.ts';
import { refusal } from './refusal.ts';
import { ownBytes, sortReplies } from './replies.ts';
import { newServerStats, type ServerStats } from './server-stats.ts';

export type { ServerStats } from './server-stats.ts';
import type { Registry } from './handlers/types.ts';
import { listen, settleWithin } from '../common/lifecycle.ts';
import { PendingLinks, type Admission } from '../common/cluster-auth.ts';

export interface ServerOptions extends LinkOptions {
  host: string;
  port: number;
  /** Admitted links at once (access servers, TeamTalk msg_servers); more are dropped. */
  maxLinks: number;
  batchMax: number;
  batchWindowMs: number;
  maxInFlightBatches: number;
  maxQueued: number;
  /** Body bytes held by requests not yet answered (queued or running); past it, requests are refused. */
  maxQueuedBytes: number;
  /** Body bytes per batch. */
  batchMaxBytes: number;
  /** Every request is answered within this (storage up or not). */
  failFastMs: number;
  /** Idle period after which we send a heartbeat (TeamTalk: 5 s). */
  heartbeatIntervalMs: number;
  /** Silence after which a link is dropped (TeamTalk: 30 s). */
  linkTimeoutMs: number;
  /** How long a graceful close waits for in-flight work. */
  shutdownTimeoutMs: number;
}


const HEARTBEAT_PDU = encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT }, new Uint8Array(0));
const STOP_RECV_PDU = encodePdu({ commandId: Cid.CID_OTHER_STOP_RECV_PACKET }, new Uint8Array(0));

/**
 * db-proxy's event loop: accepts links, frames PDUs, answers heartbeats,
 * batches requests to the executor and writes the answers back by link uuid.
 */
export class DbProxyServer {
  readonly stats: ServerStats = newServerStats();

  /** Body bytes of requests not yet done (queued, or in a running batch). */
  heldBytes = 0;
  private readonly server: net.Server;
  /** Every open link, admitted or still in its handshake. */
  private readonly links = new Map<number, Link>();
  /** Admitted links (their uuids), and how many. */
  private readonly admittedLinks = new Set<number>();
  private admitted = 0;
  private readonly handshakes: PendingLinks;
  /** Message data: gathers while batches run, so one commit carries many messages. */
  private readonly commits: Batcher;
  /** Everything else: dispatched at once, a window only adds latency to reads. */
  private readonly others: Batcher;
  private readonly gate = new OrderGate<QueuedRequest>();
  private readonly deadlines = new DeadlineQueue<QueuedRequest>((r) => this.expire(r));
  /** Time a worker's deadline keeps back for its answer to reach us. */
  private readonly answerMarginMs: number;
  private nextUuid = 1;
  private readonly ticker: NodeJS.Timeout;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly opts: ServerOptions,
    private readonly executor: Executor,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    this.commits = new Batcher(opts, this.gate, (batch) => this.runBatch(batch));
    this.others = new Batcher({ ...opts, batchWindowMs: 0 }, this.gate, (batch) => this.runBatch(batch));
    this.answerMarginMs = Math.min(200, Math.floor(opts.failFastMs / 5));
    this.handshakes = new PendingLinks(opts.auth);
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
      this.deadlines.close();
      await settleWithin(Promise.all([...this.links.values()].map((l) => l.whenClosed())), 500);
      for (const link of this.links.values()) link.destroy();
    })();
    return this.closing;
  }

  /** Immediate: drop every link; in-flight answers are lost (nothing unacked is acked). */
  destroy(): void {
    clearInterval(this.ticker);
    this.deadlines.close();
    this.server.close();
    for (const link of this.links.values()) link.destroy();
  }

  private accept(socket: net.Socket): void {
    const source = socket.remoteAddress ?? '';
    const peer = `${source}:${socket.remotePort}`;
    if (this.closing) {
      socket.destroy();
      return;
    }
    // A link in its handshake takes a place among the few allowed per source; an open server (no secret) admits at once.
    const handshake = this.opts.auth.secret !== null;
    if (handshake ? !this.handshakes.take(source) : this.admitted >= this.opts.maxLinks) {
      this.stats.linksRefused++;
      this.log.warn({ peer, links: this.admitted, handshakes: this.handshakes.size }, 'link refused: too many');
      socket.destroy();
      return;
    }
    const uuid = this.nextUuid;
    this.nextUuid = this.nextUuid >= 0xffffffff ? 1 : this.nextUuid + 1;
    const link = new Link(socket, uuid, this.log.child({ link: uuid, peer }), this.opts, {
      onPdu: (l, pdu) => this.onPdu(l, pdu),
      onAdmit: (l, admission) => this.admit(l, source, admission),
      onClose: (l) => {
        this.links.delete(l.uuid);
        if (l.admission === null) this.handshakes.release(source);
        else if (this.admittedLinks.delete(l.uuid)) this.admitted--;
        this.stats.links = this.admitted;
        l.log.info('link closed');
      },
    });
    this.links.set(uuid, link);
  }

  private admit(link: Link, source: string, admission: Admission): string | null {
    if (this.opts.auth.secret !== null) this.handshakes.release(source);
    if (this.admitted >= this.opts.maxLinks) {
      this.stats.linksRefused++;
      link.log.warn({ links: this.admitted, max: this.opts.maxLinks }, 'link refused: DB_PROXY_MAX_LINKS reached');
      return `no room: ${this.admitted} links (DB_PROXY_MAX_LINKS)`;
    }
    this.admittedLinks.add(link.uuid);
    this.admitted++;
    this.stats.links = this.admitted;
    const who = admission.kind === 'authenticated' ? { role: admission.identity.role, name: admission.identity.name } : {};
    link.log.info({ admission: admission.kind, ...who }, 'link open');
    return null;
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
    const body = ownBytes(pdu.body);
    const req: QueuedRequest = {
      uuid: link.uuid,
      commandId,
      seqNum,
      body,
      keys: orderKeysOf(commandId, body),
      bytes: body.byteLength,
      deadline: Date.now() + this.opts.failFastMs,
      answered: false,
      running: false,
      cancelled: false,
    };
    link.began();
    if (this.heldBytes + req.bytes > this.opts.maxQueuedBytes || !this.batcherOf(req).add(req)) {
      this.stats.refusedOverload++;
      req.answered = true;
      const answer = refusal(this.registry, req, 'overloaded');
      link.finished();
      if (answer) link.write([answer]);
      return;
    }
    this.heldBytes += req.bytes;
    this.deadlines.push(req);
  }

  private batcherOf(req: QueuedRequest): Batcher {
    return req.commandId === Cid.CID_MSG_DATA ? this.commits : this.others;
  }

  /**
   * A request is due and unanswered. Still queued: it will never run, so it
   * is refused. Running: whatever its batch did is not known yet, so a
   * message is answered "outcome unknown"; its batch's late answer is dropped.
   */
  private expire(r: QueuedRequest): void {
    let answer: Uint8Array | null;
    if (r.running) {
      this.stats.expiredRunning++;
      answer = refusal(this.registry, r, 'unknown');
    } else {
      this.stats.expiredQueued++;
      this.batcherOf(r).cancel(r);
      this.heldBytes -= r.bytes;
      answer = refusal(this.registry, r, 'expired');
    }
    this.answer(r, answer);
  }

  private answer(r: QueuedRequest, pdu: Uint8Array | null): void {
    r.answered = true;
    const link = this.links.get(r.uuid);
    link?.finished();
    if (!pdu) return;
    if (!link || link.closed) {
      this.stats.repliesDropped++;
      return;
    }
    this.stats.replies++;
    link.write([pdu]);
  }

  private async runBatch(batch: QueuedRequest[]): Promise<void> {
    let deadline = Infinity;
    for (const r of batch) deadline = Math.min(deadline, r.deadline);
    let replies: BatchReply[];
    let failed = false;
    try {
      replies = unpackReplies(await this.executor.run(packRequests(batch, deadline - this.answerMarginMs)));
    } catch (err) {
      // The executor itself failed (worker crash): what the batch did is unknown.
      this.log.error({ err, size: batch.length }, 'batch failed');
      replies = [];
      failed = true;
    }
    this.deliver(batch, replies, failed);
  }

  private deliver(batch: QueuedRequest[], replies: readonly BatchReply[], failed: boolean): void {
    const { perLink, counts, late } = sortReplies(this.registry, batch, replies, failed);
    this.stats.lateAnswers += late;
    for (const r of batch) this.heldBytes -= r.bytes;
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
