/**
 * The presence table: which access servers hold which users, with client
 * types, and what each access server reported about itself. Keyed by link id
 * (one link is one access server), so everything a server reported goes away
 * with its link. Pure data: no sockets, no logging.
 */
import type { IM } from '../proto/messages.ts';

/** What an access server says about itself in CID_OTHER_MSG_SERV_INFO. */
export interface ServerInfo {
  /** Its unique server id (`host_name`). */
  serverId: string;
  ip1: string;
  ip2: string;
  port: number;
  maxConnCnt: number;
  curConnCnt: number;
}

/** What a CID_OTHER_MSG_SERV_INFO registers: the server's own report, its `host_name` as its server id. */
export function serverInfoOf(m: Readonly<IM.Server.IMMsgServInfo>): ServerInfo {
  return {
    serverId: m.hostName,
    ip1: m.ip1,
    ip2: m.ip2,
    port: m.port,
    maxConnCnt: m.maxConnCnt,
    curConnCnt: m.curConnCnt,
  };
}

/** The outcome of choosing an access server for a new client (TeamTalk's codes). */
export type ServerChoice =
  | { code: 0; server: ServerInfo }
  | { code: 1 }
  | { code: 2 };

/** Connections per client type of one user on one server. */
type ClientCounts = Map<number, number>;

export class PresenceTable {
  /** uid → link id → client type → connections. */
  private readonly users = new Map<number, Map<number, ClientCounts>>();
  /** link id → uids it holds. */
  private readonly byLink = new Map<number, Set<number>>();
  private readonly servers = new Map<number, ServerInfo>();
  private readonly linkByServerId = new Map<string, number>();

  /** Users with at least one connection anywhere. */
  get userCount(): number {
    return this.users.size;
  }

  /** Registered access servers. */
  get serverCount(): number {
    return this.servers.size;
  }

  /**
   * Records (or replaces) what link `linkId` reported about itself. Returns
   * the link that held the same server id before, if it is another one: the
   * caller drops that stale link.
   */
  register(linkId: number, info: ServerInfo): number | undefined {
    const old = this.servers.get(linkId);
    if (old && old.serverId !== info.serverId && this.linkByServerId.get(old.serverId) === linkId) {
      this.linkByServerId.delete(old.serverId);
    }
    const previous = this.linkByServerId.get(info.serverId);
    this.servers.set(linkId, { ...info });
    this.linkByServerId.set(info.serverId, linkId);
    return previous !== undefined && previous !== linkId ? previous : undefined;
  }

  server(linkId: number): Readonly<ServerInfo> | undefined {
    return this.servers.get(linkId);
  }

  linkOfServer(serverId: string): number | undefined {
    return this.linkByServerId.get(serverId);
  }

  /** Every registered server, in registration order. */
  allServers(): ReadonlyMap<number, Readonly<ServerInfo>> {
    return this.servers;
  }

  /** Applies CID_OTHER_USER_CNT_UPDATE: +1 or -1 on the server's load, never below 0. */
  adjustCount(linkId: number, delta: 1 | -1): void {
    const s = this.servers.get(linkId);
    if (s) s.curConnCnt = Math.max(0, s.curConnCnt + delta);
  }

  /** One more connection of `uid` with `clientType` on link `linkId`. */
  addConnection(linkId: number, uid: number, clientType: number): void {
    let perLink = this.users.get(uid);
    if (!perLink) this.users.set(uid, (perLink = new Map()));
    let counts = perLink.get(linkId);
    if (!counts) perLink.set(linkId, (counts = new Map()));
    counts.set(clientType, (counts.get(clientType) ?? 0) + 1);
    let uids = this.byLink.get(linkId);
    if (!uids) this.byLink.set(linkId, (uids = new Set()));
    uids.add(uid);
  }

  /** One connection fewer; the user leaves the link (and the table) with its last one. */
  removeConnection(linkId: number, uid: number, clientType: number): void {
    const perLink = this.users.get(uid);
    const counts = perLink?.get(linkId);
    const n = counts?.get(clientType);
    if (!perLink || !counts || n === undefined) return;
    if (n > 1) {
      counts.set(clientType, n - 1);
      return;
    }
    counts.delete(clientType);
    if (counts.size > 0) return;
    perLink.delete(linkId);
    this.byLink.get(linkId)?.delete(uid);
    if (perLink.size === 0) this.users.delete(uid);
  }

  /** Link ids of the servers holding at least one connection of `uid`. */
  holders(uid: number): Iterable<number> {
    return this.users.get(uid)?.keys() ?? [];
  }

  isOnline(uid: number): boolean {
    return this.users.has(uid);
  }

  /** A PC client (windows, mac) of `uid` is connected anywhere: TeamTalk's "online" for status answers and notifies. */
  isPcOnline(uid: number): boolean {
    const perLink = this.users.get(uid);
    if (!perLink) return false;
    for (const counts of perLink.values()) for (const clientType of counts.keys()) if (isPcClient(clientType)) return true;
    return false;
  }

  /** Client types of `uid` on link `linkId` with their connection counts (for tests and diagnostics). */
  clientTypes(uid: number, linkId: number): ReadonlyMap<number, number> {
    return this.users.get(uid)?.get(linkId) ?? new Map();
  }

  /** Forgets everything link `linkId` reported. Returns how many users it held. */
  removeLink(linkId: number): number {
    const info = this.servers.get(linkId);
    if (info && this.linkByServerId.get(info.serverId) === linkId) this.linkByServerId.delete(info.serverId);
    this.servers.delete(linkId);
    const uids = this.byLink.get(linkId);
    this.byLink.delete(linkId);
    if (!uids) return 0;
    for (const uid of uids) {
      const perLink = this.users.get(uid);
      perLink?.delete(linkId);
      if (perLink?.size === 0) this.users.delete(uid);
    }
    return uids.size;
  }

  /**
   * The least-loaded server with room (lowest cur/max, then fewest
   * connections, then earliest registered): code 0; 1 when none is
   * registered; 2 when every one is full.
   */
  pickLeastLoaded(): ServerChoice {
    if (this.servers.size === 0) return { code: 1 };
    let best: ServerInfo | undefined;
    for (const s of this.servers.values()) {
      if (s.curConnCnt >= s.maxConnCnt) continue;
      if (!best || loadOf(s) < loadOf(best) || (loadOf(s) === loadOf(best) && s.curConnCnt < best.curConnCnt)) best = s;
    }
    return best ? { code: 0, server: best } : { code: 2 };
  }
}

function loadOf(s: ServerInfo): number {
  return s.curConnCnt / s.maxConnCnt;
}

/** TeamTalk's CHECK_CLIENT_TYPE_PC: windows (0x01) and mac (0x02) are PC; ios (0x11) and android (0x12) are mobile. */
export function isPcClient(clientType: number): boolean {
  return (clientType & 0x10) === 0;
}
