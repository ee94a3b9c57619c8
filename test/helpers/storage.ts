/**
 * Per-test storage: a MySQL database of its own (tt_test_<random>, migrated
 * unless asked not to) and a Redis key prefix of its own (tt_test_<random>:),
 * so test files can run in parallel against one server and leave nothing
 * behind after cleanup().
 *
 * Servers come from MYSQL_URL / REDIS_URL, which `npm test` sets (pointing at
 * its embedded stack unless they were already set). To run one test file by
 * hand, either export both variables or keep `npm run stack -- start` running
 * in another shell; its servers are picked up automatically. Otherwise
 * createTestStorage() fails with a message saying so.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { Pool } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { urlFromEnv } from '../../common/config.ts';
import { migrate, withDatabase } from '../../schema/migrate.ts';
import { deleteKeys } from '../../scripts/redis-keys.ts';
import { runningStack } from '../../scripts/stack.ts';

export { deleteKeys, withDatabase };

export interface TestStorage {
  /** Name of the private database. */
  database: string;
  /** URL of the private database. */
  mysqlUrl: string;
  pool: Pool;
  redisUrl: string;
  /** Prefix of every Redis key this test may touch. */
  keyPrefix: string;
  /** ioredis client that applies keyPrefix to every key. */
  redis: Redis;
  shards: number;
  /** Drops the database, deletes the keys, closes the clients. Safe to call twice. */
  cleanup(): Promise<void>;
}

export interface TestStorageOptions {
  /** Shard count for migrate; default 8. */
  shards?: number;
  /** Run the migrations (default true); false gives an empty database. */
  migrate?: boolean;
}

/** Server URLs for tests: env first, then a running `npm run stack -- start`. */
export function testServerUrls(env: NodeJS.ProcessEnv = process.env): { mysqlUrl: string; redisUrl: string } {
  const running = runningStack();
  const mysqlUrl = urlFromEnv(env, 'MYSQL_URL', ['mysql']) ?? running?.mysqlUrl;
  const redisUrl = urlFromEnv(env, 'REDIS_URL', ['redis', 'rediss']) ?? running?.redisUrl;
  if (mysqlUrl === undefined || redisUrl === undefined) {
    throw new Error(
      'tests need MYSQL_URL and REDIS_URL: run them through `npm test`, or keep ' +
        '`npm run stack -- start` running in another shell, or export both variables',
    );
  }
  return { mysqlUrl, redisUrl };
}


export async function createTestStorage(opts: TestStorageOptions = {}): Promise<TestStorage> {
  const shards = opts.shards ?? 8;
  const { mysqlUrl: serverUrl, redisUrl } = testServerUrls();
  const id = `tt_test_${randomBytes(6).toString('hex')}`;
  const database = id;
  const keyPrefix = `${id}:`;
  const mysqlUrl = withDatabase(serverUrl, database);

  const admin = await mysql.createConnection({ uri: withDatabase(serverUrl, '') });
  try {
    await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await admin.end();
  }
  if (opts.migrate ?? true) await migrate({ url: mysqlUrl, shards });

  const pool = mysql.createPool({ uri: mysqlUrl, connectionLimit: 5 });
  const redis = new Redis(redisUrl, { keyPrefix, maxRetriesPerRequest: 2 });

  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await pool.end().catch(() => {});
    redis.disconnect();
    const conn = await mysql.createConnection({ uri: withDatabase(serverUrl, '') });
    try {
      await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
    } finally {
      await conn.end();
    }
    await deleteKeys(redisUrl, keyPrefix);
  };
  return { database, mysqlUrl, pool, redisUrl, keyPrefix, redis, shards, cleanup };
}
