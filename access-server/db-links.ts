import type { Logger } from 'pino';
import { ErrorCode, ImError } from '../common/errors.ts';
import { Cid, commandById, decodeBody, encodeBody } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import type { AccessConfig } from './config.ts';
import type { DbAnswer } from './handlers/types.ts';
import { pickByKey } from './conversation.ts';
import { PeerLink } from './peer-link.ts';

/** TeamTalk's attach_data type "connection handle". */
const ATTACH_TYPE_HANDLE = 1;

interface Pending {
  expect: number;
  resolve: (a: DbAnswer<never>) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface DbLink {
  peer: PeerLink;
  pending: Map<number, Pending>;
  nextSeq: number;
}

const attachCache = new Map<number, boolean>();

/** True when the request body of `commandId` has an attach_data field. */
function hasAttachData(commandId: number): boolean {
  let has = attachCache.get(commandId);
  if (has === undefined) {
    const cls = commandById(commandId)?.message as { prototype?: object } | null | undefined;
    has = cls?.prototype !== undefined && 'attachData' in cls.prototype;
    attachCache.set(commandId, has);
  }
  return has;
}

/** The command db-proxy answers `commandId` with (it answers CID_MSG_DATA with CID_MSG_DATA). */
function answerOf(commandId: number): number | undefined {
  return commandId === Cid.CID_MSG_DATA ? Cid.CID_MSG_DATA : commandById(commandId)?.responseId;
}

/**
 * Links to every db-proxy (several per proxy). Requests are matched to
 * answers by our own seq number per link; `orderKey` picks the link by
 * rendezvous hash, so one conversation stays on one link while that link is
 * up and its requests keep their order.
 */
export class DbLinks {
  private readonly links: DbLink[] = [];

  constructor(
    private readonly config: Pick<AccessConfig, 'dbProxies' | 'dbLinksPerProxy' | 'dbRequestTimeoutMs' | 'dbMaxPendingPerLink' | 'links'>,
    private readonly log: Logger,
  ) {
    for (const addr of config.dbProxies) {
      for (let i = 0; i < config.dbLinksPerProxy; i++) {
        const link: DbLink = { pending: new Map(), nextSeq: 1, peer: null as unknown as PeerLink };
        link.peer = new PeerLink(addr, i, config.links, log.child({ peer: 'db-proxy' }), {
          onOpen: () => {},
          onPdu: (_p, pdu) => this.onAnswer(link, pdu),
          onDown: () => this.failAll(link, new ImError(ErrorCode.CONNECTION_CLOSED, `db-proxy link ${link.peer.name} closed`)),
        });
        this.links.push(link);
      }
    }
  }

  /** Links that take new requests. */
  get usableCount(): number {
    return this.links.filter((l) => l.peer.usable).length;
  }

  /** Requests waiting for an answer, over all links. */
  get pendingCount(): number {
    return this.links.reduce((n, l) => n + l.pending.size, 0);
  }

  /** Resolves once at least one link is usable, or rejects after `timeoutMs`. */
  async whenReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.usableCount === 0) {
      if (Date.now() > deadline) throw new ImError(ErrorCode.STORAGE, 'no db-proxy reachable');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Sends one request. A command without an answer resolves once written
   * (commandId 0). Rejects with IM_ERR_STORAGE (no link), IM_ERR_QUEUE_FULL,
   * IM_ERR_TIMEOUT or IM_ERR_CONNECTION_CLOSED.
   */
  request<T>(commandId: number, message: object, orderKey?: string, connId = 0): Promise<DbAnswer<T>> {
    const usable = this.links.filter((l) => l.peer.usable);
    if (usable.length === 0) return Promise.reject(new ImError(ErrorCode.STORAGE, 'no db-proxy link is up'));
    const link = orderKey === undefined ? leastPending(usable) : pickByKey(usable, orderKey, (l) => l.peer.name);
    let body = message as Record<string, unknown>;
    if (hasAttachData(commandId) && body.attachData === undefined) body = { ...body, attachData: attachData(connId) };
    const expect = answerOf(commandId);
    if (expect === undefined) {
      link.peer.write(encodePdu({ commandId }, encodeBody(commandId, body as never)));
      return Promise.resolve({ commandId: 0, message: {} as T });
    }
    if (link.pending.size >= this.config.dbMaxPendingPerLink) {
      return Promise.reject(new ImError(ErrorCode.QUEUE_FULL, `${link.pending.size} requests pending on ${link.peer.name}`));
    }
    const bytes = encodeBody(commandId, body as never);
    const seq = allocSeq(link);
    return new Promise<DbAnswer<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        link.pending.delete(seq);
        reject(new ImError(ErrorCode.TIMEOUT, `db-proxy did not answer 0x${commandId.toString(16)} in ${this.config.dbRequestTimeoutMs} ms`));
      }, this.config.dbRequestTimeoutMs);
      timer.unref();
      link.pending.set(seq, { expect, resolve: resolve as (a: DbAnswer<never>) => void, reject, timer });
      link.peer.write(encodePdu({ commandId, seqNum: seq }, bytes));
    });
  }

  /** Waits (up to `timeoutMs`) for pending answers, then closes every link. */
  async close(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pendingCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.destroy();
  }

  destroy(): void {
    for (const l of this.links) {
      l.peer.close(0);
      this.failAll(l, new ImError(ErrorCode.SHUTTING_DOWN, 'db-proxy links closed'));
    }
  }

  private onAnswer(link: DbLink, pdu: Pdu): void {
    const { seqNum, commandId } = pdu.header;
    const p = link.pending.get(seqNum);
    if (!p || p.expect !== commandId) {
      this.log.warn({ link: link.peer.name, seqNum, commandId }, 'db-proxy answer matches no request; dropped');
      return;
    }
    link.pending.delete(seqNum);
    clearTimeout(p.timer);
    try {
      p.resolve({ commandId, message: decodeBody(commandId, pdu.body) as never });
    } catch (err) {
      p.reject(err as Error);
    }
  }

  private failAll(link: DbLink, err: Error): void {
    for (const p of link.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    link.pending.clear();
  }
}

function allocSeq(link: DbLink): number {
  for (;;) {
    const seq = link.nextSeq;
    link.nextSeq = seq >= 0xffff ? 1 : seq + 1;
    if (!link.pending.has(seq)) return seq;
  }
}

function leastPending(links: DbLink[]): DbLink {
  let best = links[0]!;
  for (const l of links) if (l.pending.size < best.pending.size) best = l;
  return best;
}

/** TeamTalk's attach_data: big-endian u32 type, connection handle, service type 0. */
function attachData(connId: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(ATTACH_TYPE_HANDLE, 0);
  b.writeUInt32BE(connId >>> 0, 4);
  return b;
}
