import type { Logger } from 'pino';
import { Correlator } from '../common/correlator.ts';
import { ErrorCode, ImError } from '../common/errors.ts';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import type { IM } from '../proto/messages.ts';
import { TEAMTALK_ROUTE_SERVER_COMMANDS } from '../proto/teamtalk-route.ts';
import type { AccessConfig, RouteProtocol } from './config.ts';
import { pickByKey } from './conversation.ts';
import { PeerLink } from './peer-link.ts';

/** Byte offset of seq_num in the PDU header. */
const SEQ_OFFSET = 12;

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
  /** Deliveries a route-server acked (links where both sides speak CID_EXT_ROUTE_ACK). */
  acked: number;
  /** Deliveries handed on again because their link dropped before acking them. */
  resent: number;
  /** Status notifies dropped because they came from a route-server other than the one they are taken from. */
  statusSkipped: number;
  /** Deliveries written without an ack expected (the link's acks at their bound). */
  untracked: number;
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

/** Deliveries awaiting an ack per link (bytes: the backlog's bound); beyond it they are written without one. */
export const MAX_UNACKED = 30_000;
/** How long a link that opened waits for the route-server's ack announcement before the backlog goes out without acks. */
const ANNOUNCE_WAIT_MS = 1000;
/** Status changes every route-server broadcasts. */
const STATUS_NOTIFIES: ReadonlySet<number> = new Set([Cid.CID_BUDDY_LIST_STATUS_NOTIFY, Cid.CID_OTHER_LOGIN_STATUS_NOTIFY]);

function isUsable(link: Link): boolean {
  return link.peer.usable && link.speaks;
}

function stopAnnounceWait(link: Link): void {
  if (link.announceTimer) clearTimeout(link.announceTimer);
  link.announceTimer = null;
}

/** Ends the link's announcement wait and hands back what it had not had acked, oldest first. */
function takeUnacked(link: Link): Held[] {
  stopAnnounceWait(link);
  const held = [...link.unacked.values()];
  link.unacked.clear();
  link.unackedBytes = 0;
  return held;
}

interface Link {
  peer: PeerLink;
  /** Queries to this route-server, matched by seq; a timed-out seq is never reused. */
  queries: Correlator<Record<string, unknown>>;
  /** The route-server announced delivery acks on this connection. */
  acks: boolean;
  /**
   * The peer is known to speak the route protocol of ACCESS_ROUTE_PROTOCOL:
   * for ours, once it answered the ack announcement (a TeamTalk
   * login_server or route_server never does, and would lose what it is
   * sent); for TeamTalk's, once open.
   */
  speaks: boolean;
  /** Deliveries written and not acked yet, by header seq, oldest first. */
  unacked: Map<number, Held>;
  unackedBytes: number;
  lastSeq: number;
  announceTimer: NodeJS.Timeout | null;
}

/**
 * Links to every route-server. On (re)connect: register (MSG_SERV_INFO),
 * then the full online list. Presence changes and kicks go to every link;
 * deliveries of one conversation go through one link picked by hash among
 * those up, failing over to another when its write fails. A delivery no
 * route-server takes (all down) is kept in a backlog bounded in count, bytes
 * and age, and sent in order as soon as a link is up again; while the backlog
 * is not empty, new deliveries queue behind it so their order holds.
 * Where the route-server speaks delivery acks (CID_EXT_ROUTE_ACK, announced
 * by both sides once per connection), each delivery is kept until it is
 * acked; those a link had not acked when it dropped (the route-server may
 * have died with them) go to the front of the backlog and on to another
 * route-server. The receiving access server drops a message it already
 * pushed (Delivery), so a delivery handed on twice reaches a client once.
 */
export class RouteLinks {
  readonly stats: RouteStats = { sent: 0, received: 0, unsent: 0, backlogged: 0, dropped: 0, acked: 0, resent: 0, statusSkipped: 0, untracked: 0 };
  private readonly links: Link[];
  private backlog: Held[] = [];
  private backlogBytes = 0;
  private readonly limits: BacklogLimits;
  readonly protocol: RouteProtocol;

  constructor(
    config: Pick<AccessConfig, 'routeServers' | 'links'> & { routeProtocol?: RouteProtocol; routeBacklog?: BacklogLimits },
    private readonly registration: RouteRegistration,
    private readonly onPdu: (pdu: Pdu) => void,
    private readonly log: Logger,
  ) {
    this.limits = config.routeBacklog ?? DEFAULT_BACKLOG;
    this.protocol = config.routeProtocol ?? 'ours';
    const child = log.child({ peer: 'route-server' });
    // TeamTalk's route_server knows no handshake.
    const timings = this.protocol === 'teamtalk' ? { ...config.links, secret: null } : config.links;
    this.links = config.routeServers.map((addr, i) => {
      const link: Link = {
        queries: new Correlator({ space: 'seq', maxPending: MAX_PENDING_QUERIES }),
        peer: null as unknown as PeerLink,
        acks: false,
        speaks: false,
        unacked: new Map(),
        unackedBytes: 0,
        lastSeq: 0,
        announceTimer: null,
      };
      link.peer = new PeerLink(addr, 0, timings, child, {
        onOpen: (peer) => {
          if (this.protocol === 'teamtalk') {
            this.registerTeamTalk(peer, i === 0);
            link.speaks = true;
            this.flush();
            return;
          }
          this.register(peer);
          peer.write(pdu(Cid.CID_EXT_ROUTE_ACK, { seqNums: [] }));
          // Nothing goes to it until it answers: every route-server of ours does at once.
          link.announceTimer = setTimeout(() => {
            link.announceTimer = null;
            peer.log.error(
              { link: peer.name, waitedMs: ANNOUNCE_WAIT_MS },
              'no answer to the route announcement: not a route-server of ours (TeamTalk\'s login_server belongs in LOGIN_SERVERS, its route_server wants ACCESS_ROUTE_PROTOCOL=teamtalk); nothing is routed through it',
            );
          }, ANNOUNCE_WAIT_MS);
          link.announceTimer.unref();
        },
        onPdu: (_peer, p) => {
          this.stats.received++;
          if (p.header.commandId === Cid.CID_EXT_ROUTE_ACK) this.onAck(link, p);
          else if (this.answer(link, p)) return;
          // Every route-server sends every status change: take them from one (the first usable), so each arrives once and in order.
          else if (STATUS_NOTIFIES.has(p.header.commandId) && this.links.find(isUsable) !== link) this.stats.statusSkipped++;
          else this.onPdu(p);
        },
        onDown: () => {
          link.speaks = false;
          link.queries.failAll(new ImError(ErrorCode.CONNECTION_CLOSED, `route-server link ${link.peer.name} closed`));
          this.requeue(link);
        },
      });
      return link;
    });
  }

  get configured(): number {
    return this.links.length;
  }

  get usableCount(): number {
    return this.links.filter(isUsable).length;
  }

  /** Deliveries waiting for a route-server. */
  get backlogSize(): number {
    return this.backlog.length;
  }

  /** Sends to every usable link (presence, kicks); to TeamTalk's route_server, only what it serves. */
  broadcast(commandId: number, message: object): void {
    if (!this.carries(commandId)) return;
    const bytes = pdu(commandId, message);
    for (const l of this.links) if (isUsable(l) && l.peer.write(bytes)) this.stats.sent++;
  }

  private carries(commandId: number): boolean {
    return this.protocol === 'ours' || TEAMTALK_ROUTE_SERVER_COMMANDS.has(commandId);
  }

  /**
   * Hands one delivery (`bytes`, a whole PDU of command `commandId`) to the
   * route-server link `key` hashes to (another one if that write fails);
   * kept in the backlog when none takes it. False only when it had to be
   * dropped (backlog full).
   */
  sendByKey(key: string, commandId: number, bytes: Uint8Array): boolean {
    if (!this.carries(commandId)) return true;
    if (this.backlog.length === 0 && this.writeByKey(key, bytes)) return true;
    this.stats.unsent++;
    return this.hold(key, bytes);
  }

  /** Resolves once every configured link is open, or after `timeoutMs`. */
  async whenConnected(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.links.some((l) => !l.peer.isOpen || !l.speaks)) {
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
    const link = this.links.find(isUsable);
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

  /** Deliveries written and not acked yet, over all links. */
  get unackedSize(): number {
    let n = 0;
    for (const l of this.links) n += l.unacked.size;
    return n;
  }

  close(): void {
    for (const l of this.links) {
      takeUnacked(l);
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

  /** CID_EXT_ROUTE_ACK: the announcement (no seqs), or deliveries the route-server passed on. */
  private onAck(link: Link, p: Pdu): void {
    let seqs: number[];
    try {
      seqs = decodeBody(Cid.CID_EXT_ROUTE_ACK, p.body).seqNums;
    } catch (err) {
      this.log.warn({ err, link: link.peer.name }, 'undecodable route ack; ignored');
      return;
    }
    if (seqs.length === 0) {
      if (link.acks) return;
      link.acks = true;
      link.speaks = true;
      stopAnnounceWait(link);
      this.flush();
      return;
    }
    for (const seq of seqs) {
      const h = link.unacked.get(seq);
      if (!h) continue;
      link.unacked.delete(seq);
      link.unackedBytes -= h.bytes.length;
      this.stats.acked++;
    }
  }

  /** A link dropped: what it had not acked goes first in the backlog, then to the links still up. */
  private requeue(link: Link): void {
    link.acks = false;
    const held = takeUnacked(link);
    if (held.length === 0) return;
    this.stats.resent += held.length;
    this.backlog = [...held, ...this.backlog];
    for (const h of held) this.backlogBytes += h.bytes.length;
    this.log.warn({ link: link.peer.name, deliveries: held.length }, 'route-server link dropped with deliveries not acked; handing them on');
    this.flush();
  }

  private writeByKey(key: string, bytes: Uint8Array, at = Date.now()): boolean {
    let usable = this.links.filter(isUsable);
    while (usable.length > 0) {
      const link = pickByKey(usable, key, (l) => l.peer.name);
      if (this.writeTo(link, key, bytes, at)) {
        this.stats.sent++;
        return true;
      }
      usable = usable.filter((l) => l !== link);
    }
    return false;
  }

  /** Writes one delivery, numbered and kept until acked where the link acks. */
  private writeTo(link: Link, key: string, bytes: Uint8Array, at: number): boolean {
    if (!link.acks) return link.peer.write(bytes);
    if (link.unacked.size >= MAX_UNACKED || link.unackedBytes + bytes.length > this.limits.maxBytes) {
      this.stats.untracked++;
      return link.peer.write(bytes);
    }
    const seq = this.nextSeq(link);
    const numbered = Buffer.from(bytes);
    numbered.writeUInt16BE(seq, SEQ_OFFSET);
    if (!link.peer.write(numbered)) return false;
    link.unacked.set(seq, { key, bytes, at });
    link.unackedBytes += bytes.length;
    return true;
  }

  /** 1..65535, skipping seqs still awaiting their ack (at most MAX_UNACKED are). */
  private nextSeq(link: Link): number {
    do link.lastSeq = link.lastSeq >= 0xffff ? 1 : link.lastSeq + 1;
    while (link.unacked.has(link.lastSeq));
    return link.lastSeq;
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
    while (sent < this.backlog.length && this.writeByKey(this.backlog[sent]!.key, this.backlog[sent]!.bytes, this.backlog[sent]!.at)) {
      this.backlogBytes -= this.backlog[sent]!.bytes.length;
      sent++;
    }
    if (sent === 0) return;
    this.backlog = this.backlog.slice(sent);
    this.log.info({ sent, left: this.backlog.length }, 'route backlog sent');
  }

  private register(link: PeerLink): void {
    link.write(pdu(Cid.CID_OTHER_MSG_SERV_INFO, this.registration.servInfo()));
    this.sendOnlineUsers(link);
  }

  /**
   * As a TeamTalk msg_server opens a link to its route_server: its online
   * users, then its role (the first configured route_server is its master;
   * TeamTalk's route_server only records it).
   */
  private registerTeamTalk(link: PeerLink, master: boolean): void {
    this.sendOnlineUsers(link);
    link.write(pdu(Cid.CID_OTHER_ROLE_SET, { master: master ? 1 : 0 }));
  }

  private sendOnlineUsers(link: PeerLink): void {
    const users = this.registration.onlineUsers();
    for (let i = 0; i < users.length; i += ONLINE_LIST_CHUNK) {
      link.write(pdu(Cid.CID_OTHER_ONLINE_USER_INFO, { userStatList: users.slice(i, i + ONLINE_LIST_CHUNK) }));
    }
    if (users.length === 0) link.write(pdu(Cid.CID_OTHER_ONLINE_USER_INFO, { userStatList: [] }));
    link.log.info({ link: link.name, users: users.length }, 'registered with route-server');
  }
}
