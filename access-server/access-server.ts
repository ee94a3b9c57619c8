import type { Logger } from 'pino';
import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import { processMetrics, startOpsHttp, type OpsServer } from '../common/ops-http.ts';
import type { ClientConnection } from './client-conn.ts';
import type { AccessConfig } from './config.ts';
import { createContext, type ServerContext } from './context.ts';
import { DbLinks } from './db-links.ts';
import { Delivery } from './delivery.ts';
import { Dispatcher } from './dispatcher.ts';
import { memoryLoginOwners, redisLoginOwners, type LoginOwners } from './dup-login.ts';
import { handlerTable } from './handlers/index.ts';
import { LoginThrottle } from './login-throttle.ts';
import { LoginServerLinks } from './login-links.ts';
import { metricsOf } from './metrics.ts';
import { OwnerRefresher } from './owner-refresher.ts';
import { Presence } from './presence.ts';
import { pcOnlineVia, Pusher } from './push.ts';
import { RouteLinks } from './route-links.ts';
import { ClientServer } from './server.ts';
import { Sessions } from './sessions.ts';

export interface RunningAccessServer {
  /** Where clients connect. */
  address: { host: string; port: number };
  serverId: string;
  /** Port of /healthz and /metrics, when served. */
  httpPort: number | null;
  context: ServerContext;
  server: ClientServer;
  sessions: Sessions<ClientConnection>;
  db: DbLinks;
  route: RouteLinks;
  loginThrottle: LoginThrottle;
  /** Keeps this server's login owner keys alive. */
  ownerRefresher: OwnerRefresher;
  /**
   * Graceful, idempotent: stop accepting and reading, answer what is in
   * flight (up to the shutdown timeout), close clients (their presence goes
   * offline), then the route, db-proxy and Redis links.
   */
  close(): Promise<void>;
  /** Immediate: drops clients and links. */
  destroy(): void;
}

/** Connects the login-owner store, starts the peer links and the client listener. */
export async function startAccessServer(config: AccessConfig, log: Logger): Promise<RunningAccessServer> {
  let owners: LoginOwners;
  if (config.redisUrl) {
    owners = await redisLoginOwners({ url: config.redisUrl, keyPrefix: config.redisKeyPrefix, ttlMs: config.loginOwnerTtlMs });
  } else {
    log.warn('REDIS_URL not set: duplicate logins are detected on this access server only');
    owners = memoryLoginOwners();
  }
  const sessions = new Sessions<ClientConnection>();
  // eslint-disable-next-line prefer-const -- the listener is built after the links that look connections up in it
  let server: ClientServer;
  const db = new DbLinks(config, log, (connId) => server.get(connId)?.remoteAddress ?? '');
  // The hooks run on socket events, after everything below is built (synchronously after listen).
  let dispatcher: Dispatcher | null = null;
  let presence: Presence | null = null;
  let route: RouteLinks | null = null;
  // Every connection counts towards the load route-servers balance on, logged in or not
  // (a flood of connections that never log in must not leave this server looking free).
  let loginServers: LoginServerLinks | null = null;
  const load = (userAction: 1 | 2): void => {
    route?.broadcast(Cid.CID_OTHER_USER_CNT_UPDATE, { userAction, userId: 0 });
    loginServers?.count(userAction);
  };
  server = new ClientServer(
    { host: config.host, port: config.port, maxConnections: config.maxConnections, conn: config.conn, shutdownTimeoutMs: config.shutdownTimeoutMs },
    {
      onOpen: () => load(1),
      onPdu: (c, pdu) => dispatcher!.dispatch(c, pdu),
      onClose: (c) => {
        presence!.offline(c);
        load(2);
      },
    },
    log,
  );
  let listening: { host: string; port: number };
  try {
    // Clients are taken once a db-proxy link is up (or the wait is over: logins are refused until one is).
    await db.whenReady(config.dbStartWaitMs).catch(() => log.warn({ waitedMs: config.dbStartWaitMs }, 'no db-proxy link yet; serving anyway'));
    listening = await server.listen();
  } catch (err) {
    db.destroy();
    await owners.close();
    throw err;
  }
  let delivery: Delivery | null = null;
  const servInfo = (): IM.Server.IIMMsgServInfo => ({
    ip1: config.advertiseIp,
    ip2: config.advertiseIp2,
    port: listening.port,
    maxConnCnt: config.maxConnections,
    curConnCnt: server.size,
    hostName: config.serverId,
  });
  loginServers = new LoginServerLinks(config.loginServers, config.links, servInfo, log);
  route = new RouteLinks(
    config,
    {
      servInfo,
      onlineUsers: () => sessions.stats(),
    },
    (pdu) => delivery!.fromRoute(pdu),
    log,
  );
  delivery = new Delivery(
    config.serverId,
    sessions,
    route,
    {
      onKick: (m) => presence!.onKickConn(m),
      onServerKick: (m) => presence!.onServerKick(m),
      // Called on route-server PDUs only, after `context` is set below (no await in between).
      groupMembers: (groupId, asUserId) => context.groupMembers(groupId, asUserId),
    },
    log,
  );
  presence = new Presence({ serverId: config.serverId, sessions, owners, route, delivery, findConn: (id) => server.get(id), log });
  const refresher = new OwnerRefresher({ serverId: config.serverId, owners, sessions, presence, intervalMs: config.loginOwnerRefreshMs, checkMs: config.loginOwnerCheckMs, log });
  refresher.start();
  const loginThrottle = new LoginThrottle(config.loginThrottle);
  const routeQuery = route.configured > 0 ? (cid: number, msg: object, expect: number) => route!.query(cid, msg, expect) : undefined;
  const pusher =
    config.pushServers.length > 0
      ? new Pusher(config.pushServers, config.links, {
          deviceTokens: async (userIds) => {
            const rsp = await db.request<{ userTokenInfo: { userId: number; userType: number; token: string; pushCount: number }[] }>(Cid.CID_OTHER_GET_DEVICE_TOKEN_REQ, { userId: userIds });
            return rsp.message.userTokenInfo ?? [];
          },
          shielded: async (groupId, userIds) => {
            const rsp = await db.request<{ shieldStatusList: { userId: number; shieldStatus: number }[] }>(Cid.CID_OTHER_GET_SHIELD_REQ, { groupId, userId: userIds }, `g${groupId}`);
            return new Set((rsp.message.shieldStatusList ?? []).filter((x) => x.shieldStatus === 1).map((x) => x.userId));
          },
          pcOnline: pcOnlineVia(routeQuery, (uid) => sessions.conns(uid).map((c) => c.session.clientType)),
          textKey: config.textKey,
          log,
        })
      : null;
  const context = createContext({ serverId: config.serverId, log, db, sessions, delivery, presence, loginThrottle, route, pusher, groupMembersTtlMs: config.groupMembersTtlMs });
  dispatcher = new Dispatcher(context, handlerTable);
  const teardown = (): void => {
    void refresher.stop();
    server.destroy();
    pusher?.close();
    route.close();
    loginServers.close();
    db.destroy();
    void owners.close();
  };
  let ops: OpsServer | null = null;
  if (config.httpPort >= 0) {
    const parts = { server, sessions, db, route, dispatcher, delivery, loginThrottle, messages: context.messageStats, push: pusher?.stats ?? null };
    try {
      ops = await startOpsHttp(config.host, config.httpPort, {
        health: () => ({ ok: db.usableCount > 0, connections: server.size, sessions: sessions.count, dbLinks: db.usableCount, routeLinks: route.usableCount }),
        metrics: () => [...metricsOf(parts), ...processMetrics('access')],
      });
    } catch (err) {
      teardown();
      throw err;
    }
  }
  const running = server;
  let closing: Promise<void> | null = null;
  return {
    address: listening,
    serverId: config.serverId,
    httpPort: ops?.port ?? null,
    context,
    server: running,
    sessions,
    db,
    route,
    loginThrottle,
    ownerRefresher: refresher,
    close() {
      closing ??= (async () => {
        await running.close();
        await refresher.stop();
        await presence!.settled();
        pusher?.close();
        route.close();
        loginServers.close();
        await db.close(config.shutdownTimeoutMs);
        await ops?.close();
        await owners.close();
      })();
      return closing;
    },
    destroy: teardown,
  };
}
