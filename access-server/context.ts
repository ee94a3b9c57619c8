import type { Logger } from 'pino';
import { ClientConnection } from './client-conn.ts';
import type { DbLinks } from './db-links.ts';
import type { Delivery } from './delivery.ts';
import { GroupMembers } from './group-members.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { AccessContext, ClientConn, DbAnswer } from './handlers/types.ts';
import type { Presence } from './presence.ts';
import type { Pusher } from './push.ts';
import type { RouteLinks } from './route-links.ts';
import type { Sessions } from './sessions.ts';

/** The access server's own handlers (login) reach a little further than AccessContext. */
export interface ServerContext extends AccessContext {
  readonly presence: Presence;
  /** Login attempts per client source. */
  readonly loginThrottle: LoginThrottle;
  /** True when at least one db-proxy link takes requests. */
  dbAvailable(): boolean;
}

export interface ContextDeps {
  serverId: string;
  log: Logger;
  db: DbLinks;
  sessions: Sessions<ClientConnection>;
  delivery: Delivery;
  presence: Presence;
  loginThrottle: LoginThrottle;
  route: RouteLinks;
  /** Null: no push server configured. */
  pusher?: Pusher | null;
  groupMembersTtlMs: number;
}

export function createContext(d: ContextDeps): ServerContext {
  const groups = new GroupMembers((cid, msg, key) => d.db.request(cid, msg, key), d.groupMembersTtlMs);
  return {
    serverId: d.serverId,
    log: d.log,
    messageStats: { refusedAnswered: 0, refusedUnanswered: 0, outcomeUnknown: 0 },
    presence: d.presence,
    loginThrottle: d.loginThrottle,
    now: () => Math.floor(Date.now() / 1000),
    db: <T>(commandId: number, message: object, orderKey?: string, connId?: number): Promise<DbAnswer<T>> =>
      d.db.request<T>(commandId, message, orderKey, connId),
    deliver: (userIds, commandId, message, opts) => d.delivery.deliver(userIds, commandId, message, opts),
    localConns: (uid) => d.sessions.conns(uid),
    routeQuery: d.route.configured > 0 ? (commandId, message, expect) => d.route.query(commandId, message, expect) : undefined,
    groupMembers: (groupId, asUserId) => groups.get(groupId, asUserId),
    forgetGroup: (groupId) => groups.forget(groupId),
    dbAvailable: () => d.db.usableCount > 0,
    push: d.pusher ? (m, receivers, nick) => void d.pusher!.afterStored(m, receivers, nick) : undefined,
  };
}

/** The ServerContext behind an AccessContext (handlers of this folder only run with one). */
export function serverContext(ctx: AccessContext): ServerContext {
  if (!('presence' in ctx)) throw new Error('not an access-server context');
  return ctx as ServerContext;
}

/** The ClientConnection behind a ClientConn. */
export function ownConn(conn: ClientConn): ClientConnection {
  if (!(conn instanceof ClientConnection)) throw new Error('not an access-server connection');
  return conn;
}
