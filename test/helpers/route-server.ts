/**
 * An in-process route-server on port 0, and a fake access server speaking the
 * routing protocol through PduClient, for route-server and cross-process tests.
 */
import pino from 'pino';
import { PduClient, type Received } from '../../proto/client.ts';
import { Cid } from '../../proto/commands.ts';
import { loadConfig } from '../../route-server/config.ts';
import { startRouteServer, type RunningRouteServer } from '../../route-server/route-server.ts';
import type { PeerIdentity } from '../../common/cluster-auth.ts';
import { TEST_CLUSTER_SECRET } from './db-proxy.ts';
import { Waiters } from './waiters.ts';

export async function startTestRouteServer(env: Record<string, string> = {}): Promise<RunningRouteServer> {
  const level = process.env.TEST_LOG_LEVEL ?? 'silent';
  // No warm-up hold unless a test asks for one: deliveries to nobody are counted unrouted at once.
  const config = loadConfig({ ROUTE_SERVER_PORT: '0', ROUTE_HTTP_PORT: '0', ROUTE_LOGIN_PORT: '0', ROUTE_WARMUP_HOLD_MS: '0', LOG_LEVEL: level, CLUSTER_SECRET: TEST_CLUSTER_SECRET, ...env });
  return startRouteServer(config, pino({ level }));
}

export interface FakeServerInfo {
  serverId: string;
  ip1?: string;
  ip2?: string;
  port?: number;
  maxConnCnt?: number;
  curConnCnt?: number;
}

/** A fake access server: one link to a route-server, every push recorded (heartbeats apart). */
export class FakeAccessServer {
  readonly pushes: Received[] = [];
  heartbeats = 0;
  isClosed = false;
  private readonly waiters = new Waiters();

  private constructor(readonly client: PduClient) {
    client.on('push', (r: Received) => {
      if (r.commandId === Cid.CID_OTHER_HEARTBEAT) this.heartbeats++;
      else this.pushes.push(r);
      this.waiters.wake();
    });
    client.on('close', () => {
      this.isClosed = true;
      this.waiters.wake();
    });
  }

  static async connect(
    route: RunningRouteServer,
    opts: { heartbeatIntervalMs?: number; clusterSecret?: string; identity?: PeerIdentity } = {},
  ): Promise<FakeAccessServer> {
    const client = await PduClient.connect({
      port: route.address.port,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 0,
      requestTimeoutMs: 3000,
      clusterSecret: opts.clusterSecret ?? TEST_CLUSTER_SECRET,
      ...(opts.identity ? { identity: opts.identity } : {}),
    });
    return new FakeAccessServer(client);
  }

  /** Connects (as `identity`: one of our access servers when its role is `access-server`) and registers: CID_OTHER_MSG_SERV_INFO, then the online users (uid with client type). */
  static async start(route: RunningRouteServer, info: FakeServerInfo, users: [number, number][] = [], identity?: PeerIdentity): Promise<FakeAccessServer> {
    const fake = await FakeAccessServer.connect(route, identity ? { identity } : {});
    fake.register(info);
    if (users.length > 0) fake.online(users);
    await fake.barrier();
    return fake;
  }

  register(info: FakeServerInfo): void {
    this.client.send(Cid.CID_OTHER_MSG_SERV_INFO, {
      ip1: info.ip1 ?? '127.0.0.1',
      ip2: info.ip2 ?? info.ip1 ?? '127.0.0.1',
      port: info.port ?? 8000,
      maxConnCnt: info.maxConnCnt ?? 1000,
      curConnCnt: info.curConnCnt ?? 0,
      hostName: info.serverId,
    });
  }

  online(users: [number, number][]): void {
    this.client.send(Cid.CID_OTHER_ONLINE_USER_INFO, {
      userStatList: users.map(([userId, clientType]) => ({ userId, status: 1, clientType })),
    });
  }

  status(userId: number, userStatus: 1 | 2, clientType = 1): void {
    this.client.send(Cid.CID_OTHER_USER_STATUS_UPDATE, { userStatus, userId, clientType });
  }

  count(userAction: 1 | 2, userId = 0): void {
    this.client.send(Cid.CID_OTHER_USER_CNT_UPDATE, { userAction, userId });
  }

  /** Resolves once the route-server has handled everything this link sent before (a request/answer round trip). */
  async barrier(): Promise<void> {
    await this.client.request(Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, { userId: 0, userIdList: [] });
  }

  /** Waits for a push matching `pred`; rejects after `timeoutMs`. */
  waitFor(pred: (r: Received) => boolean, timeoutMs = 2000): Promise<Received> {
    return this.waiters.until(() => this.pushes.find(pred), timeoutMs, 'no matching push in time');
  }

  /** Waits until the link is closed; rejects after `timeoutMs`. */
  closed(timeoutMs = 2000): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('link still open')), timeoutMs);
      this.client.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
