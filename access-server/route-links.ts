import type { Logger } from 'pino';
import { Correlator } from '../common/correlator.ts';
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
  /** Deliveries not sent because no route-server link was up (kept in the backlog, or dropped when it was full). */
  unsent: number;
  /** Deliveries kept while no route-server took them, sent later. */
  backlogged: number;
  /** Deliveries dropped: the backlog was full or they waited too long. */
  dropped: number;
}

/** Bounds of the deliveries kept while no route-server link is up. */
export interface BacklogLimits {
  maxCount: number;
  maxBytes: number;
  maxAgeMs: number;
}

const DEFAULT_BACKLOG: BacklogLimits = { maxCount: 50_000, maxBytes: 32 * 1024 * 1024, maxAgeMs: 30_000 };

function pdu(commandId: number, message: object, seqNum = 0): Buffer {
  return encodePdu({ commandId, seqNum }, encodeBody(commandId, message as never));
}

/** Most queries to route-servers awaiting an answer at once. */
export const MAX_PENDING_QUERIES = 1024;

interface Held {
  key: string;
  bytes: Uint8Array;
  at: number;
}

interface Link {
  peer: PeerLink;
  /** Queries to this route-server, matched by seq; a timed-out seq is never reused. */
  queries: Correlator<Record<string, unknown>>;
}

/**
 * Links to every route-server. On (re)connect: register (MSG_SERV_INFO),
 * then the full online list. Presence changes and kicks go to every link;
 * deliveries of one conversation go through one link picked by hash among
 * those up, failing over to another when its write fails. A delivery no
 * route-server takes (all down) is kept in a backlog bounded in count, bytes
 * and age, and sent in order as soon as a link is up again; while the backlog
 * is not empty, new deliveries queue behind it so their order holds.
 */
export class RouteLinks {
  readonly stats: RouteStats = { sent: 0, received: 0, unsent: 0, backlogged: 0, dropped: 0 };
  private readonly links: Link[];
  private backlog: Held[] = [];
  private backlogBytes = 0;
  private readonly limits: BacklogLimits;

  constructor(
    config: Pick<AccessConfig, 'routeServers' | 'links'> & { routeBacklog?: BacklogLimits },
    private readonly registration: RouteRegistration,
    private readonly onPdu: (pdu: Pdu) => void,
    private readonly log: Logger,
  ) {
    this.limits = config.routeBacklog ?? DEFAULT_BACKLOG;
    const child = log.child({ peer: 'route-server' });
    this.links = config.routeServers.map((addr) => {
      const link: Link = { queries: new Correlator({ space: 'seq', maxPending: MAX_PENDING_QUERIES }), peer: null as unknown as PeerLink };
      link.peer = new PeerLink(addr, 0, config.links, child, {
        onOpen: (peer) => {
          this.register(peer);
          this.flush();
        },
        onPdu: (_peer, p) => {
          this.stats.received++;
          if (!this.answer(link, p)) this.onPdu(p);
        },
        onDown: () => link.queries.failAll(new ImError(ErrorCode.CONNECTION_CLOSED, `route-server link ${link.peer.name} closed`)),
      });
      return link;
    });
  }

  get configured(): number {
    return this.links.length;
  }

  get usableCount(): number {
    return this.links.filter((l) => l.peer.usable).length;
  }

  /** Deliveries waiting for a route-server. */
  get backlogSize(): number {
    return this.backlog.length;
  }

  /** Sends to every usable link (presence, kicks). */
  broadcast(commandId: number, message: object): void {
    const bytes = pdu(commandId, message);
    for (const l of this.links) if (l.peer.usable && l.peer.write(bytes)) this.stats.sent++;
  }

  /**
   * Hands one delivery to the route-server link `key` hashes to (another one
   * if that write fails); kept in the backlog when none takes it. False only
   * when it had to be dropped (backlog full).
   */
  sendByKey(key: string, bytes: Uint8Array): boolean {
    if (this.backlog.length === 0 && this.writeByKey(key, bytes)) return true;
    this.stats.unsent++;
    return this.hold(key, bytes);
  }

  /** Resolves once every configured link is open, or after `timeoutMs`. */
  async whenConnected(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.links.some((l) => !l.peer.isOpen)) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  /**
   * Asks a route-server (the first usable link) and resolves with its answer
   * of command `expect` on the same seq (e.g. cluster-wide user status).
   * Rejects with IM_ERR_CONNECTION_CLOSED (no link), IM_ERR_TOO_MANY_IN_FLIGHT or
   * IM_ERR_TIMEOUT.
   */
  query(commandId: number, message: object, expect: number, timeoutMs = 3000): Promise<Record<string, unknown>> {
    const link = this.links.find((l) => l.peer.usable);
    if (!link) return Promise.reject(new ImError(ErrorCode.CONNECTION_CLOSED, 'no route-server link is up'));
    let opened;
    try {
      opened = link.queries.open(timeoutMs, expect, () => `route-server 0x${commandId.toString(16)} on ${link.peer.name}`);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (link.peer.write(pdu(commandId, message, opened.id))) this.stats.sent++;
    return opened.answer;
  }

  close(): void {
    for (const l of this.links) {
      l.peer.close();
      l.queries.failAll(new ImError(ErrorCode.CONNECTION_CLOSED, 'route-server links closed'));
    }
    if (this.backlog.length > 0) this.log.warn({ deliveries: this.backlog.length }, 'route backlog not sent at close');
    this.backlog = [];
    this.backlogBytes = 0;
  }

  /** True when `p` answers a pending query of this link (then it is consumed here). */
  private answer(link: Link, p: Pdu): boolean {
    if (p.header.seqNum === 0) return false;
    const outcome = link.queries.settle(p.header.seqNum, p.header.commandId, () => decodeBody(p.header.commandId, p.body) as unknown as Record<string, unknown>);
    return outcome !== 'unknown';
  }

  private writeByKey(key: string, bytes: Uint8Array): boolean {
    let usable = this.links.filter((l) => l.peer.usable);
    while (usable.length > 0) {
      const link = pickByKey(usable, key, (l) => l.peer.name);
      if (link.peer.write(bytes)) {
        this.stats.sent++;
        return true;
      }
      usable = usable.filter((l) => l !== link);
    }
    return false;
  }

  private hold(key: string, bytes: Uint8Array): boolean {
    const now = Date.now();
    this.expire(now);
    if (this.backlog.length >= this.limits.maxCount || this.backlogBytes + bytes.length > this.limits.maxBytes) {
      this.stats.dropped++;
      this.log.warn({ backlog: this.backlog.length, bytes: this.backlogBytes }, 'route backlog full; delivery dropped (the message stays unread)');
      return false;
    }
    this.backlog.push({ key, bytes, at: now });
    this.backlogBytes += bytes.length;
    this.stats.backlogged++;
    return true;
  }

  private expire(now: number): void {
    let n = 0;
    while (n < this.backlog.length && now - this.backlog[n]!.at > this.limits.maxAgeMs) n++;
    if (n === 0) return;
    for (const h of this.backlog.slice(0, n)) this.backlogBytes -= h.bytes.length;
    this.backlog = this.backlog.slice(n);
    this.stats.dropped += n;
    this.log.warn({ dropped: n }, 'route deliveries waited too long; dropped (the messages stay unread)');
  }

  /** Sends the backlog in order while some link takes it. */
  private flush(): void {
    this.expire(Date.now());
    let sent = 0;
    while (sent < this.backlog.length && this.writeByKey(this.backlog[sent]!.key, this.backlog[sent]!.bytes)) {
      this.backlogBytes -= this.backlog[sent]!.bytes.length;
      sent++;
    }
    if (sent === 0) return;
    this.backlog = this.backlog.slice(sent);
    this.log.info({ sent, left: this.backlog.length }, 'route backlog sent');
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
