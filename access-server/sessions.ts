import type { IM } from '../proto/messages.ts';
import { clientClass, isMobile } from './conversation.ts';
import { ownerOf, type OwnerClaim } from './dup-login.ts';
import type { ClientConn, ClientSession } from './handlers/types.ts';

/** A connection that has logged in. */
export type LoggedIn<C extends ClientConn> = C & { session: ClientSession };

/**
 * Local online users: uid → the logged-in connections of that user, by
 * connection id. Only logged-in connections are here; a connection is added
 * once its login completed and removed when it closes.
 */
export class Sessions<C extends ClientConn> {
  private readonly byUid = new Map<number, Map<number, LoggedIn<C>>>();
  private total = 0;

  /** Logged-in connections on this server. */
  get count(): number {
    return this.total;
  }

  /** Users with at least one connection here. */
  get users(): number {
    return this.byUid.size;
  }

  add(conn: LoggedIn<C>): void {
    const uid = conn.session.uid;
    let conns = this.byUid.get(uid);
    if (!conns) this.byUid.set(uid, (conns = new Map()));
    if (!conns.has(conn.id)) this.total++;
    conns.set(conn.id, conn);
  }

  /** False when the connection was not registered. */
  remove(conn: C): boolean {
    const uid = conn.session?.uid;
    if (uid === undefined) return false;
    const conns = this.byUid.get(uid);
    if (!conns?.delete(conn.id)) return false;
    this.total--;
    if (conns.size === 0) this.byUid.delete(uid);
    return true;
  }

  conns(uid: number): LoggedIn<C>[] {
    const conns = this.byUid.get(uid);
    return conns ? [...conns.values()] : [];
  }

  /** The user's connection with this id, if it is logged in here. */
  find(uid: number, connId: number): LoggedIn<C> | undefined {
    return this.byUid.get(uid)?.get(connId);
  }

  hasPc(uid: number, exceptConnId = -1): boolean {
    return this.conns(uid).some((c) => c.id !== exceptConnId && !isMobile(c.session.clientType));
  }

  /** Every logged-in connection (for broadcasts to local PC clients). */
  *all(): IterableIterator<LoggedIn<C>> {
    for (const conns of this.byUid.values()) yield* conns.values();
  }

  /** The login owner claim of every logged-in connection (refreshed by the owner refresher). */
  claims(serverId: string): (OwnerClaim & { connId: number; clientType: number })[] {
    const out: (OwnerClaim & { connId: number; clientType: number })[] = [];
    for (const c of this.all()) {
      const { uid, clientType } = c.session;
      out.push({ uid, cls: clientClass(clientType), owner: ownerOf(serverId, c.id), connId: c.id, clientType });
    }
    return out;
  }

  /** ServerUserStat of every logged-in connection (CID_OTHER_ONLINE_USER_INFO). */
  stats(): IM.BaseDefine.IServerUserStat[] {
    const out: IM.BaseDefine.IServerUserStat[] = [];
    for (const c of this.all()) out.push({ userId: c.session.uid, status: c.session.status, clientType: c.session.clientType });
    return out;
  }
}
