import type { Logger } from 'pino';
import { attachRequestId, buildAttach } from '../common/attach.ts';
import { Correlator } from '../common/correlator.ts';
import { isOutcomeUnknown } from '../common/outcome.ts';
import { ErrorCode, ImError } from '../common/errors.ts';
import { Cid, commandById, decodeBody, encodeBody } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import type { AccessConfig } from './config.ts';
import type { DbAnswer } from './handlers/types.ts';
import { pickByKey } from './conversation.ts';
import { PeerLink } from './peer-link.ts';

interface DbLink {
  peer: PeerLink;
  /** Requests whose body carries attach_data: matched by the request id in it. */
  byRequest: Correlator<DbAnswer<never>>;
  /** The few without attach_data: matched by seq (a timed-out seq is never reused). */
  bySeq: Correlator<DbAnswer<never>>;
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
 * Links to every db-proxy (several per proxy). An answer is matched to its
 * request by a per-link request id carried in attach_data (common/attach.ts),
 * which db-proxy echoes, and by the command it must be; never by the 16-bit
 * seq alone, and a timed-out id is never given to another request, so a late
 * answer is dropped rather than handed to someone else. `orderKey` picks the
 * link by rendezvous hash, so one conversation stays on one link while that
 * link is up and its requests keep their order.
 */
export class DbLinks {
  readonly stats = { late: 0, unmatched: 0 };
  private readonly links: DbLink[] = [];

  constructor(
    private readonly config: Pick<AccessConfig, 'dbProxies' | 'dbLinksPerProxy' | 'dbRequestTimeoutMs' | 'dbMaxPendingPerLink' | 'links'>,
    private readonly log: Logger,
    /** The client address of a connection id, for attach_data (login throttles key on it). */
    private readonly sourceOf: (connId: number) => string = () => '',
  ) {
    for (const addr of config.dbProxies) {
      for (let i = 0; i < config.dbLinksPerProxy; i++) {
        const max = config.dbMaxPendingPerLink;
        const link: DbLink = {
          byRequest: new Correlator({ space: 'request', maxPending: max }),
          bySeq: new Correlator({ space: 'seq', maxPending: Math.min(max, 0xfffe) }),
          peer: null as unknown as PeerLink,
        };
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
    return this.links.reduce((n, l) => n + pendingOf(l), 0);
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
    const expect = answerOf(commandId);
    const withAttach = hasAttachData(commandId);
    if (expect === undefined) {
      const body = withAttach ? { ...message, attachData: buildAttach(connId, 0, this.sourceOf(connId)) } : message;
      link.peer.write(encodePdu({ commandId }, encodeBody(commandId, body as never)));
      return Promise.resolve({ commandId: 0, message: {} as T });
    }
    if (pendingOf(link) >= this.config.dbMaxPendingPerLink) {
      return Promise.reject(new ImError(ErrorCode.QUEUE_FULL, `${pendingOf(link)} requests pending on ${link.peer.name}`));
    }
    let opened;
    try {
      opened = (withAttach ? link.byRequest : link.bySeq).open(
        this.config.dbRequestTimeoutMs,
        expect,
        () => `db-proxy 0x${commandId.toString(16)} on ${link.peer.name}`,
      );
    } catch (err) {
      return Promise.reject(new ImError(ErrorCode.QUEUE_FULL, (err as Error).message, { cause: err }));
    }
    const id = opened.id;
    const body = withAttach ? { ...message, attachData: buildAttach(connId, id, this.sourceOf(connId)) } : message;
    const seqNum = withAttach ? (id % 0xffff) + 1 : id;
    if (!link.peer.write(encodePdu({ commandId, seqNum }, encodeBody(commandId, body as never)))) {
      (withAttach ? link.byRequest : link.bySeq).fail(id, new ImError(ErrorCode.CONNECTION_CLOSED, `db-proxy link ${link.peer.name} is down`));
    }
    return opened.answer as Promise<DbAnswer<T>>;
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
    let message: Record<string, unknown>;
    try {
      message = decodeBody(commandId, pdu.body) as unknown as Record<string, unknown>;
    } catch (err) {
      this.log.warn({ err, link: link.peer.name, seqNum, commandId }, 'undecodable db-proxy answer; dropped');
      return;
    }
    const requestId = attachRequestId(message.attachData as Uint8Array | undefined);
    const value = (): DbAnswer<never> => {
      if (isOutcomeUnknown(pdu.header)) {
        throw new ImError(ErrorCode.OUTCOME_UNKNOWN, `db-proxy could not learn in time whether 0x${commandId.toString(16)} took effect`);
      }
      return { commandId, message: message as never };
    };
    const outcome = requestId !== null ? link.byRequest.settle(requestId, commandId, value) : link.bySeq.settle(seqNum, commandId, value);
    if (outcome === 'settled') return;
    if (outcome === 'late') this.stats.late++;
    else this.stats.unmatched++;
    this.log.warn({ link: link.peer.name, seqNum, commandId, requestId, outcome }, 'db-proxy answer matches no pending request; dropped');
  }

  private failAll(link: DbLink, err: Error): void {
    link.byRequest.failAll(err);
    link.bySeq.failAll(err);
  }
}

function pendingOf(link: DbLink): number {
  return link.byRequest.size + link.bySeq.size;
}

function leastPending(links: DbLink[]): DbLink {
  let best = links[0]!;
  for (const l of links) if (pendingOf(l) < pendingOf(best)) best = l;
  return best;
}
