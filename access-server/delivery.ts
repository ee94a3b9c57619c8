import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import type { IM } from '../proto/messages.ts';
import { routedRecipients, TEAMTALK_ECHOED, TEAMTALK_ROUTED } from '../proto/teamtalk-route.ts';
import type { ClientConnection } from './client-conn.ts';
import { isGroupMsgType, isMobile, UserStatus } from './conversation.ts';
import type { RouteLinks } from './route-links.ts';
import type { Sessions } from './sessions.ts';

export interface DeliveryStats {
  /** PDUs written to local connections. */
  local: number;
  /** Deliveries handed to a route-server. */
  routed: number;
  /** Deliveries that arrived from a route-server. */
  inbound: number;
  /** Messages from a route-server already pushed here (a delivery handed on twice after a route-server dropped); not pushed again. */
  duplicates: number;
}

/** Messages a route-server delivered lately, to drop a second copy: bounded in count and age. */
export class RecentMessages {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly max = 100_000,
    private readonly ttlMs = 60_000,
  ) {}

  /** True when `key` was seen within the TTL; records it otherwise. */
  check(key: string, now = Date.now()): boolean {
    const at = this.seen.get(key);
    if (at !== undefined && now - at <= this.ttlMs) return true;
    if (at !== undefined) this.seen.delete(key);
    this.seen.set(key, now);
    // Oldest first: drop what is too old, and the oldest beyond the bound.
    for (const [k, t] of this.seen) {
      if (this.seen.size <= this.max && now - t <= this.ttlMs) break;
      this.seen.delete(k);
    }
    return false;
  }

  get size(): number {
    return this.seen.size;
  }
}

/** Which local connections of a recipient get a command (TeamTalk's per-type broadcasts). */
function accepts(conn: ClientConnection, commandId: number): boolean {
  const mobile = isMobile(conn.session!.clientType);
  if (commandId === Cid.CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY) return mobile;
  if (commandId === Cid.CID_BUDDY_LIST_STATUS_NOTIFY) return !mobile;
  return true;
}

/** What deliveries from route-servers call out to. */
export interface DeliveryHooks {
  /** CID_EXT_KICK_CONN: a newer login of ours elsewhere. */
  onKick(msg: IM.Ext.IMKickConn): void;
  /** CID_OTHER_SERVER_KICK_USER: a login on a TeamTalk msg_server. */
  onServerKick(msg: IM.Server.IMServerKickUser): void;
  /** Member ids of a group, asked as `asUserId` (for a TeamTalk msg_server's group message). */
  groupMembers(groupId: number, asUserId: number): Promise<readonly number[]>;
}

/** A group message's body names its group and msg id: the same body twice is the same message. */
function groupMessageKey(body: Uint8Array): string {
  return `g${createHash('sha1').update(body).digest('base64')}`;
}

/**
 * Deliveries: to local connections directly, to other access servers
 * through one route-server link per conversation (1:1 CID_MSG_DATA as is,
 * everything else wrapped in CID_EXT_ROUTE_TO_USERS), and PDUs that
 * route-servers deliver here, to the local connections they name. What a
 * TeamTalk msg_server sends through a route-server comes unwrapped, in
 * TeamTalk's route protocol (proto/teamtalk-route.ts), and is delivered the
 * way a TeamTalk msg_server delivers it: a group message to the group's
 * members here (asked of db-proxy as its sender), a signature change to
 * everyone here, the rest to the users its body names.
 */
export class Delivery {
  readonly stats: DeliveryStats = { local: 0, routed: 0, inbound: 0, duplicates: 0 };
  private readonly recent = new RecentMessages();

  constructor(
    private readonly serverId: string,
    private readonly sessions: Sessions<ClientConnection>,
    private readonly route: RouteLinks,
    private readonly hooks: DeliveryHooks,
    private readonly log: Logger,
  ) {}

  deliver(userIds: readonly number[], commandId: number, message: object, opts: { exceptConnId?: number; orderKey?: string } = {}): void {
    const body = encodeBody(commandId, message as never);
    const pdu = encodePdu({ commandId }, body);
    const recipients = [...new Set(userIds)].filter((u) => u > 0);
    const key = opts.orderKey ?? `u${recipients[0]}`;
    if (this.route.protocol === 'teamtalk' && this.route.configured > 0 && recipients.length > 0) {
      // TeamTalk's route_server passes its routed commands to every msg_server, each delivers them from the body; nothing else.
      const routed = TEAMTALK_ROUTED.has(commandId) && this.route.sendByKey(key, commandId, pdu);
      if (routed) this.stats.routed++;
      // An echoed command comes back to everyone here (fromTeamTalk); delivered now as well, it would arrive twice.
      if (!routed || !TEAMTALK_ECHOED.has(commandId)) this.deliverLocal(recipients, commandId, pdu, opts.exceptConnId ?? -1);
      return;
    }
    this.deliverLocal(recipients, commandId, pdu, opts.exceptConnId ?? -1);
    if (this.route.configured === 0 || recipients.length === 0) return;
    const m = message as { msgType?: number };
    if (commandId === Cid.CID_MSG_DATA && !isGroupMsgType(m.msgType ?? 0)) {
      if (this.route.sendByKey(key, commandId, pdu)) this.stats.routed++;
      return;
    }
    const wrapped: IM.Ext.IIMRouteToUsers = { userIds: recipients, commandId, pduBody: body, originServer: this.serverId };
    if (this.route.sendByKey(key, Cid.CID_EXT_ROUTE_TO_USERS, encodePdu({ commandId: Cid.CID_EXT_ROUTE_TO_USERS }, encodeBody(Cid.CID_EXT_ROUTE_TO_USERS, wrapped)))) {
      this.stats.routed++;
    }
  }

  /** Sends a user-status notify to every local PC connection of other users (TeamTalk's broadcast, local part). */
  statusToLocalPcs(uid: number, status: number): void {
    const pdu = encodePdu({ commandId: Cid.CID_BUDDY_LIST_STATUS_NOTIFY }, encodeBody(Cid.CID_BUDDY_LIST_STATUS_NOTIFY, { userStat: { userId: uid, status } }));
    for (const c of this.sessions.all()) {
      if (c.session.uid !== uid && !isMobile(c.session.clientType)) {
        c.sendPdu(pdu);
        this.stats.local++;
      }
    }
  }

  /** A PDU from a route-server. */
  fromRoute(pdu: Pdu): void {
    const { commandId } = pdu.header;
    try {
      switch (commandId) {
        case Cid.CID_MSG_DATA: {
          const m = decodeBody(Cid.CID_MSG_DATA, pdu.body);
          if (isGroupMsgType(m.msgType)) {
            this.fromTeamTalk(pdu);
            return;
          }
          this.stats.inbound++;
          if (this.recent.check(`s${m.fromUserId}:${m.toSessionId}:${m.msgId}`)) {
            this.stats.duplicates++;
            return;
          }
          this.deliverLocal([m.toSessionId, m.fromUserId], commandId, encodePdu({ commandId }, pdu.body), -1);
          return;
        }
        case Cid.CID_EXT_ROUTE_TO_USERS: {
          const m = decodeBody(Cid.CID_EXT_ROUTE_TO_USERS, pdu.body);
          if (m.originServer === this.serverId) return;
          this.stats.inbound++;
          if (m.commandId === Cid.CID_MSG_DATA && this.recent.check(groupMessageKey(m.pduBody))) {
            this.stats.duplicates++;
            return;
          }
          this.deliverLocal(m.userIds, m.commandId, encodePdu({ commandId: m.commandId }, m.pduBody), -1);
          return;
        }
        case Cid.CID_EXT_KICK_CONN:
          this.hooks.onKick(decodeBody(Cid.CID_EXT_KICK_CONN, pdu.body));
          return;
        case Cid.CID_OTHER_SERVER_KICK_USER:
          this.hooks.onServerKick(decodeBody(Cid.CID_OTHER_SERVER_KICK_USER, pdu.body));
          return;
        case Cid.CID_OTHER_LOGIN_STATUS_NOTIFY: {
          const m = decodeBody(Cid.CID_OTHER_LOGIN_STATUS_NOTIFY, pdu.body);
          const loginStat = m.loginStatus === 1 ? UserStatus.ONLINE : UserStatus.OFFLINE;
          const out = encodeBody(Cid.CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY, { userId: m.userId, loginStat });
          this.deliverLocal([m.userId], Cid.CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY, encodePdu({ commandId: Cid.CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY }, out), -1);
          return;
        }
        case Cid.CID_BUDDY_LIST_STATUS_NOTIFY: {
          const m = decodeBody(Cid.CID_BUDDY_LIST_STATUS_NOTIFY, pdu.body);
          this.statusToLocalPcs(m.userStat.userId, m.userStat.status);
          return;
        }
        default:
          if (TEAMTALK_ROUTED.has(commandId)) this.fromTeamTalk(pdu);
          else this.log.debug({ commandId }, 'route-server PDU not handled');
      }
    } catch (err) {
      this.log.warn({ err, commandId }, 'undecodable PDU from route-server; dropped');
    }
  }

  /** A command a TeamTalk msg_server sent (group CID_MSG_DATA and the other routed commands). */
  private fromTeamTalk(pdu: Pdu): void {
    const { commandId } = pdu.header;
    const to = routedRecipients(commandId, pdu.body);
    if (!to) return;
    this.stats.inbound++;
    const out = encodePdu({ commandId }, pdu.body);
    if ('users' in to) {
      this.deliverLocal(to.users, commandId, out, -1);
    } else if ('everyone' in to) {
      for (const c of this.sessions.all()) {
        c.sendPdu(out);
        this.stats.local++;
      }
    } else if (this.recent.check(groupMessageKey(pdu.body))) {
      this.stats.duplicates++;
    } else {
      // Members are asked in arrival order and answered in that order (GroupMembers), so messages of a group keep theirs.
      this.hooks.groupMembers(to.group, to.asUser).then(
        (members) => this.deliverLocal(members, commandId, out, -1),
        (err: unknown) => this.log.warn({ err, groupId: to.group }, 'group members unknown; group message not pushed here (it stays unread)'),
      );
    }
  }

  private deliverLocal(userIds: readonly number[], commandId: number, pdu: Uint8Array, exceptConnId: number): void {
    const seen = new Set<number>();
    for (const uid of userIds) {
      if (seen.has(uid)) continue;
      seen.add(uid);
      for (const c of this.sessions.conns(uid)) {
        if (c.id === exceptConnId || !accepts(c, commandId)) continue;
        c.sendPdu(pdu);
        this.stats.local++;
      }
    }
  }
}
