import type { Logger } from 'pino';
import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import type { ClientConnection } from './client-conn.ts';
import { clientClass, isMobile, KickReason, UserStatus } from './conversation.ts';
import type { Delivery } from './delivery.ts';
import { ownerOf, parseOwner, type ClientClass, type LoginOwners } from './dup-login.ts';
import type { RouteLinks } from './route-links.ts';
import type { LoggedIn, Sessions } from './sessions.ts';

export interface PresenceDeps {
  serverId: string;
  sessions: Sessions<ClientConnection>;
  owners: LoginOwners;
  route: RouteLinks;
  delivery: Delivery;
  /** Any open connection of this server by id (logged in or not). */
  findConn(connId: number): ClientConnection | undefined;
  log: Logger;
}

/**
 * Who is online here and what follows from it: the duplicate-login claim
 * and kick, presence reports to the route-servers, PC login status to the
 * user's mobile devices and user status to local PC clients.
 */
export class Presence {
  private readonly releases = new Set<Promise<void>>();

  constructor(private readonly d: PresenceDeps) {}

  /**
   * Makes `conn` the owner of the user's login for its client class and
   * kicks the previous owner, here or on another server. Rejects with
   * IM_ERR_STORAGE when the owner store is unreachable.
   */
  async claim(conn: ClientConnection, uid: number, clientType: number): Promise<void> {
    const me = ownerOf(this.d.serverId, conn.id);
    const prev = await this.d.owners.swap(uid, clientClass(clientType), me);
    if (prev !== null && prev !== me) this.kickOwner(prev, uid, clientType, KickReason.DUPLICATE_USER);
    this.kickOnTeamTalkServers(uid, clientType, KickReason.DUPLICATE_USER);
  }

  /** Kicks whoever owns the user's login of `cls` (a mobile kicking its PC). */
  async kickClass(uid: number, cls: ClientClass, clientType: number, reason: number): Promise<void> {
    const owner = await this.d.owners.get(uid, cls);
    if (owner !== null) this.kickOwner(owner, uid, clientType, reason);
    this.kickOnTeamTalkServers(uid, clientType, reason);
  }

  /**
   * CID_OTHER_SERVER_KICK_USER from a route-server: the user logged in on a
   * TeamTalk msg_server, which does not take part in our login owners; its
   * sessions here of the same kind (PC or mobile) end, as TeamTalk's
   * msg_servers end theirs.
   */
  onServerKick(msg: IM.Server.IIMServerKickUser): void {
    const uid = msg.userId;
    const cls = clientClass(msg.clientType);
    for (const c of this.d.sessions.conns(uid)) {
      if (clientClass(c.session.clientType) !== cls) continue;
      c.log.info({ uid, reason: msg.reason }, 'kicked by a login on a TeamTalk msg_server');
      c.kick(msg.reason);
    }
  }

  /** CID_EXT_KICK_CONN from a route-server. */
  onKickConn(msg: IM.Ext.IIMKickConn): void {
    if (msg.serverId !== this.d.serverId) return;
    this.kickLocal(msg.connId, msg.userId, msg.reason);
  }

  online(conn: LoggedIn<ClientConnection>): void {
    const { uid, clientType, status } = conn.session;
    const { sessions, route, delivery } = this.d;
    const pcWasOnline = sessions.hasPc(uid);
    sessions.add(conn);
    route.broadcast(Cid.CID_OTHER_USER_STATUS_UPDATE, { userStatus: UserStatus.ONLINE, userId: uid, clientType });
    // With a route-server up, its notifies (sent back here too) tell this server's clients, from the whole cluster's view.
    if (route.usableCount > 0) return;
    if (!isMobile(clientType)) {
      delivery.deliver([uid], Cid.CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY, { userId: uid, loginStat: UserStatus.ONLINE }, { exceptConnId: conn.id });
      if (!pcWasOnline) delivery.statusToLocalPcs(uid, status);
    } else if (pcWasOnline) {
      conn.send(Cid.CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY, { userId: uid, loginStat: UserStatus.ONLINE });
    }
  }

  /** The connection closed; no-op unless it was logged in. */
  offline(conn: ClientConnection): void {
    const { sessions, route, delivery } = this.d;
    if (!conn.session || !sessions.remove(conn)) return;
    const { uid, clientType } = conn.session;
    route.broadcast(Cid.CID_OTHER_USER_STATUS_UPDATE, { userStatus: UserStatus.OFFLINE, userId: uid, clientType });
    this.release(conn, uid, clientType);
    if (route.usableCount > 0) return;
    if (!isMobile(clientType) && !sessions.hasPc(uid)) {
      delivery.deliver([uid], Cid.CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY, { userId: uid, loginStat: UserStatus.OFFLINE });
      delivery.statusToLocalPcs(uid, UserStatus.OFFLINE);
    }
  }

  /** Gives up the login owner key if it still names `conn`. */
  release(conn: ClientConnection, uid: number, clientType: number): void {
    const p = this.d.owners
      .release(uid, clientClass(clientType), ownerOf(this.d.serverId, conn.id))
      .catch((err: unknown) => this.d.log.warn({ err, uid, conn: conn.id }, 'login owner not released'))
      .finally(() => this.releases.delete(p));
    this.releases.add(p);
  }

  /** Resolves when every owner release started so far has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.releases]);
  }

  /**
   * The same kick in TeamTalk's route protocol, for TeamTalk msg_servers in
   * the cluster (they know nothing of our login owners); route-servers pass
   * it to those only.
   */
  private kickOnTeamTalkServers(uid: number, clientType: number, reason: number): void {
    this.d.route.broadcast(Cid.CID_OTHER_SERVER_KICK_USER, { userId: uid, clientType, reason });
  }

  private kickOwner(owner: string, uid: number, clientType: number, reason: number): void {
    const p = parseOwner(owner);
    if (!p) {
      this.d.log.warn({ owner, uid }, 'unreadable login owner; nothing kicked');
      return;
    }
    if (p.serverId === this.d.serverId) {
      this.kickLocal(p.connId, uid, reason);
      return;
    }
    // Under TeamTalk's route_server the other server hears of the login from CID_OTHER_SERVER_KICK_USER instead.
    if (this.d.route.protocol === 'teamtalk') return;
    this.d.route.broadcast(Cid.CID_EXT_KICK_CONN, { userId: uid, clientType, serverId: p.serverId, connId: p.connId, reason });
  }

  private kickLocal(connId: number, uid: number, reason: number): void {
    const c = this.d.findConn(connId);
    if (c && (c.session?.uid === uid || c.pendingUid === uid)) {
      c.log.info({ uid, reason }, 'kicked by a newer login');
      c.kick(reason);
    }
  }
}
