/**
 * Access servers in-process for tests: a db-proxy on a private database
 * (test/helpers/db-proxy.ts), users seeded with TeamTalk's password scheme,
 * and logged-in PduClients.
 */
import { createHash } from 'node:crypto';
import pino from 'pino';
import { startAccessServer, type RunningAccessServer } from '../../access-server/access-server.ts';
import { ErrorCode, isImError } from '../../common/errors.ts';
import { loadConfig } from '../../access-server/config.ts';
import { ClientCap } from '../../proto/caps.ts';
import { PduClient, type Received } from '../../proto/client.ts';
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { startTestDbProxy, TEST_CLUSTER_SECRET, type DbProxyFixture } from './db-proxy.ts';

export const PC = 0x01;
export const MOBILE = 0x11;

export function md5hex(s: string): string {
  return createHash('md5').update(s, 'utf8').digest('hex');
}

export interface AccessFixture {
  dbProxy: DbProxyFixture;
  /** Starts one more access server on the same db-proxy and Redis prefix. */
  startServer(env?: Record<string, string>): Promise<RunningAccessServer>;
  /** Users `user{n}` with password `pw{n}`; returns their ids. */
  seedUsers(count: number): Promise<number[]>;
  /** A raw client of `server` (not logged in). */
  connect(server: RunningAccessServer): Promise<PduClient>;
  /**
   * A client of `server` logged in as `user{n}` that then asks for `opts.caps`
   * (default: "refusal-ack", as our own clients do); `caps: []` logs in as a
   * TeamTalk client, which never sends CID_EXT_CLIENT_CAPS_REQ.
   */
  login(server: RunningAccessServer, n: number, clientType?: number, opts?: { caps?: readonly string[] }): Promise<PduClient>;
  close(): Promise<void>;
}

export function loginRequest(n: number, clientType = PC, password = `pw${n}`): IM.Login.IIMLoginReq {
  return { userName: `user${n}`, password: md5hex(password), onlineStatus: 1, clientType, clientVersion: 'test' };
}

export async function startAccessFixture(baseEnv: Record<string, string> = {}): Promise<AccessFixture> {
  const dbProxy = await startTestDbProxy();
  const { storage } = dbProxy;
  const servers: RunningAccessServer[] = [];
  const clients: PduClient[] = [];
  let seeded = 0;
  const fixture: AccessFixture = {
    dbProxy,
    async startServer(env = {}) {
      const config = loadConfig({
        ACCESS_PORT: '0',
        DB_PROXY_ADDRS: `127.0.0.1:${dbProxy.proxy.address.port}`,
        REDIS_URL: storage.redisUrl,
        REDIS_KEY_PREFIX: storage.keyPrefix,
        ACCESS_SERVER_ID: `test-${servers.length + 1}`,
        CLUSTER_SECRET: TEST_CLUSTER_SECRET,
        // Tests log in many users from loopback at once: the per-source login throttle
        // (ACCESS_LOGIN_RATE_PER_SEC / ACCESS_LOGIN_BURST) is raised out of their way;
        // tests of the throttle set their own values.
        ACCESS_LOGIN_RATE_PER_SEC: '100000',
        ACCESS_LOGIN_BURST: '100000',
        ...baseEnv,
        ...env,
      });
      const server = await startAccessServer(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
      servers.push(server);
      await server.db.whenReady(5000);
      return server;
    },
    async seedUsers(count) {
      const now = Math.floor(Date.now() / 1000);
      const rows = Array.from({ length: count }, (_, i) => {
        const n = seeded + i + 1;
        const salt = String(1000 + n);
        return [n, `user${n}`, `nick ${n}`, md5hex(md5hex(`pw${n}`) + salt), salt, 1, 0, now, now];
      });
      await storage.pool.query('INSERT INTO IMUser (id, name, nick, password, salt, departId, status, created, updated) VALUES ?', [rows]);
      seeded += count;
      return rows.map((r) => r[0] as number);
    },
    async connect(server) {
      const c = await PduClient.connect({ port: server.address.port, heartbeatIntervalMs: 0, requestTimeoutMs: 5000 });
      clients.push(c);
      return c;
    },
    async login(server, n, clientType = PC, { caps = [ClientCap.REFUSAL_ACK] } = {}) {
      const c = await fixture.connect(server);
      const res = await c.request(Cid.CID_LOGIN_REQ_USERLOGIN, loginRequest(n, clientType));
      const body = res.message as IM.Login.IMLoginRes;
      if (body.resultCode !== 0) throw new Error(`login of user${n} refused: ${body.resultCode} ${body.resultString}`);
      if (caps.length === 0) return c;
      let got: IM.Ext.IMClientCapsRsp;
      try {
        got = (await c.request(Cid.CID_EXT_CLIENT_CAPS_REQ, { caps: [...caps] })).message as IM.Ext.IMClientCapsRsp;
      } catch (err) {
        // Kicked right after login by a racing login of the same user: the login itself succeeded.
        if (isImError(err, ErrorCode.CONNECTION_CLOSED)) return c;
        throw err;
      }
      if (got.caps.length !== caps.length) throw new Error(`user${n} asked for ${caps.join()}, got ${got.caps.join()}`);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      for (const s of servers) await s.close();
      await dbProxy.close();
    },
  };
  return fixture;
}

/** Resolves with the next push of `commandId` (rejects after `timeoutMs`). */
export function nextPush(client: PduClient, commandId: number, timeoutMs = 3000): Promise<Received> {
  return collectPushes(client, commandId, 1, timeoutMs).then((r) => r[0]!);
}

/** Resolves with the next `count` pushes of `commandId`. */
export function collectPushes(client: PduClient, commandId: number, count: number, timeoutMs = 3000): Promise<Received[]> {
  return new Promise((resolve, reject) => {
    const got: Received[] = [];
    const onPush = (r: Received): void => {
      if (r.commandId !== commandId) return;
      got.push(r);
      if (got.length === count) done(null);
    };
    const timer = setTimeout(() => done(new Error(`${got.length}/${count} pushes of 0x${commandId.toString(16)} in ${timeoutMs} ms`)), timeoutMs);
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      client.off('push', onPush);
      if (err) reject(err);
      else resolve(got);
    };
    client.on('push', onPush);
  });
}

/** Resolves when the client's connection closes (rejects after `timeoutMs`). */
export function whenClosed(client: PduClient, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Polls `cond` until it holds (rejects after `timeoutMs`). */
export async function waitFor(cond: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
