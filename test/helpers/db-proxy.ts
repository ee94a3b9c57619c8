/** Starts an in-process db-proxy on a test database, for cross-module tests. */
import pino from 'pino';
import { loadConfig } from '../../db-proxy/config.ts';
import { startDbProxy, type RunningDbProxy } from '../../db-proxy/db-proxy.ts';
import { PduClient } from '../../proto/client.ts';
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { createTestStorage, type TestStorage } from './storage.ts';

/** The CLUSTER_SECRET of every in-process server of the tests (a test may set its own, or '' for none). */
export const TEST_CLUSTER_SECRET = 'test-cluster-secret-2f1c9a';

export interface DbProxyFixture {
  proxy: RunningDbProxy;
  storage: TestStorage;
  connect(): Promise<PduClient>;
  close(): Promise<void>;
}

export async function startTestDbProxy(env: Record<string, string> = {}, storage?: TestStorage): Promise<DbProxyFixture> {
  const own = storage ?? (await createTestStorage());
  const config = loadConfig({
    MYSQL_URL: own.mysqlUrl,
    REDIS_URL: own.redisUrl,
    REDIS_KEY_PREFIX: own.keyPrefix,
    SHARDS: String(own.shards),
    DB_PROXY_PORT: '0',
    DB_PROXY_WORKERS: '1',
    DB_PROXY_HTTP_PORT: '0',
    // Generous for tests on a loaded machine; tests of the bound itself set their own.
    DB_PROXY_FAIL_FAST_MS: '5000',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    CLUSTER_SECRET: TEST_CLUSTER_SECRET,
    ...env,
  });
  const secret = env.CLUSTER_SECRET ?? TEST_CLUSTER_SECRET;
  const proxy = await startDbProxy(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  const clients: PduClient[] = [];
  return {
    proxy,
    storage: own,
    async connect() {
      const c = await PduClient.connect({ port: proxy.address.port, heartbeatIntervalMs: 0, requestTimeoutMs: 5000, clusterSecret: secret });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      await proxy.close();
      if (!storage) await own.cleanup();
    },
  };
}

/** Sends a one-to-one text message on a db-proxy link, as an access server does; the msg id answered (0: refused). */
export async function sendMessage(c: PduClient, from: number, to: number, text: string): Promise<number> {
  const r = await c.request(
    Cid.CID_MSG_DATA,
    { fromUserId: from, toSessionId: to, msgId: 0, createTime: 1_700_000_000, msgType: 1, msgData: Buffer.from(text) },
    { expect: Cid.CID_MSG_DATA },
  );
  return (r.message as IM.Message.IMMsgData).msgId;
}
