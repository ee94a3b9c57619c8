import type { Logger } from 'pino';
import { ErrorCode, ImError } from '../common/errors.ts';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import type { IM } from '../proto/messages.ts';
import type { AccessConfig } from './config.ts';
import { pickByKey } from './conversation.ts';
import { PeerLink } from './peer-link.ts';

/** Most ServerUserStat entries in one CID_OTHER_ONLINE_USER_INFO. */
export const ONLINE_LIST_CHUNK = 10_000;

export interface RouteRegistration {
  /** CID_OTHER_MSG_SERV_INFO body, built when a link opens. */
  servInfo(): IM.Server.IIMMsgServInfo;
  /** Every logged-in connection, built when a link opens. */
  onlineUsers(): IM.BaseDefine.IServerUserStat[];
}

export interface RouteStats {
  sent: number;
  received: number;
  /** Deliveries not sent because no route-server link was up. */
  unsent: number;
}

function pdu(commandId: number, message: object, seqNum = 0): Buffer {
  return encodePdu({ commandId, seqNum }, encodeBody(commandId, message as never));
}

/** Most queries to route-servers awaiting an answer at once. */
export const MAX_PENDING_QUERIES = 1024;

interface PendingQuery {
  expect: number;
  resolve: (message: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Links to every route-server. On (re)connect: register (MSG_SERV_INFO),
 * then the full online list. Presence changes and kicks go to every link;
 * deliveries of one conversation go through one link picked by hash.
 */
export class RouteLinks {
  readonly stats: RouteStats = { sent: 0, received: 0, unsent: 0 };
  private readonly links: PeerLink[];
  private readonly pending = new Map<number, PendingQuery>();
  private nextSeq = 1;

  constructor(
    config: Pick<AccessConfig, 'routeServers' | 'links'>,
    private readonly registration: RouteRegistration,
    private readonly onPdu: (pdu: Pdu) => void,
    log: Logger,
  ) {
    const child = log.child({ peer: 'route-server' });
    this.links = config.routeServers.map(
      (addr) =>
        new PeerLink(addr, 0, config.links, child, {
          onOpen: (link) => this.register(link),
          onPdu: (_link, p) => {
            this.stats.received++;
            if (!this.answer(p)) this.onPdu(p);
          },
          onDown: () => {},
        }),
    );
  }

  get configured(): number {
    return this.links.length;
  }

  get usableCount(): number {
    return this.links.filter((l) => l.usable).length;
  }

  /** Sends to every usable link (presence, kicks). */
  broadcast(commandId: number, message: object): void {
    const bytes = pdu(commandId, message);
    for (const l of this.links) if (l.usable && l.write(bytes)) this.stats.sent++;
  }

  /** Sends one delivery through the link `key` hashes to; false when none is up. */
  sendByKey(key: string, bytes: Uint8Array): boolean {
    const usable = this.links.filter((l) => l.usable);
    if (usable.length === 0) {
      this.stats.unsent++;
      return false;
    }
    const ok = pickByKey(usable, key, (l) => l.name).write(bytes);
    if (ok) this.stats.sent++;
    return ok;
  }

  /** Resolves once every configured link is open, or after `timeoutMs`. */
  async whenConnected(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.links.some((l) => !l.isOpen)) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  /**
   * Asks a route-server (the first usable link) and resolves with its answer
   * of command `expect` on the same seq (e.g. cluster-wide user status).
   * Rejects with IM_ERR_CONNECTION_CLOSED (no link), IM_ERR_QUEUE_FULL or
   * IM_ERR_TIMEOUT.
   */
  query(commandId: number, message: object, expect: number, timeoutMs = 3000): Promise<Record<string, unknown>> {
    const link = this.links.find((l) => l.usable);
    if (!link) return Promise.reject(new ImError(ErrorCode.CONNECTION_CLOSED, 'no route-server link is up'));
    if (this.pending.size >= MAX_PENDING_QUERIES) return Promise.reject(new ImError(ErrorCode.QUEUE_FULL, 'too many route-server queries in flight'));
    let seq = this.nextSeq;
    while (this.pending.has(seq)) seq = seq >= 0xffff ? 1 : seq + 1;
    this.nextSeq = seq >= 0xffff ? 1 : seq + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new ImError(ErrorCode.TIMEOUT, `route-server did not answer 0x${commandId.toString(16)} in ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(seq, { expect, resolve, reject, timer });
      if (link.write(pdu(commandId, message, seq))) this.stats.sent++;
    });
  }

  close(): void {
    for (const l of this.links) l.close();
    for (const [seq, q] of this.pending) {
      clearTimeout(q.timer);
      this.pending.delete(seq);
      q.reject(new ImError(ErrorCode.CONNECTION_CLOSED, 'route-server links closed'));
    }
  }

  /** True when `p` answers a pending query (then it is consumed here). */
  private answer(p: Pdu): boolean {
    const q = p.header.seqNum === 0 ? undefined : this.pending.get(p.header.seqNum);
    if (!q || q.expect !== p.header.commandId) return false;
    this.pending.delete(p.header.seqNum);
    clearTimeout(q.timer);
    try {
      q.resolve(decodeBody(p.header.commandId, p.body) as unknown as Record<string, unknown>);
    } catch (err) {
      q.reject(err as Error);
    }
    return true;
  }

  private register(link: PeerLink): void {
    link.write(pdu(Cid.CID_OTHER_MSG_SERV_INFO, this.registration.servInfo()));
    const users = this.registration.onlineUsers();
    for (let i = 0; i < users.length; i += ONLINE_LIST_CHUNK) {
      link.write(pdu(Cid.CID_OTHER_ONLINE_USER_INFO, { userStatList: users.slice(i, i + ONLINE_LIST_CHUNK) }));
    }
    if (users.length === 0) link.write(pdu(Cid.CID_OTHER_ONLINE_USER_INFO, { userStatList: [] }));
    link.log.info({ link: link.name, users: users.length }, 'registered with route-server');
  }
}
