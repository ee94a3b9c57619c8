/**
 * Where the benchmark writes: MYSQL_URL / REDIS_URL if set, else a running
 * `npm run stack` stack, else a private embedded stack started for this run.
 * Each run gets a fresh database (tt_bench_<random>, migrated) and a fresh
 * Redis key prefix; both are removed at the end unless --keep.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { deleteKeys } from '../redis-keys.ts';
import { migrate, withDatabase } from '../../schema/migrate.ts';

import { resolveStorage, runningStack, STACK_ROOT } from '../stack.ts';

export interface BenchStorage {
  serverUrl: string;
  /** URL of the private database. */
  mysqlUrl: string;
  database: string;
  redisUrl: string;
  keyPrefix: string;
  shards: number;
  /** Drops the database, deletes the keys, stops servers started here (unless keep). */
  cleanup(keep: boolean): Promise<void>;
}

export async function openBenchStorage(env: NodeJS.ProcessEnv, shards: number, log: (m: string) => void): Promise<BenchStorage> {
  const running = runningStack();
  const servers = await resolveStorage(
    { ...env, MYSQL_URL: env.MYSQL_URL ?? running?.mysqlUrl, REDIS_URL: env.REDIS_URL ?? running?.redisUrl },
    { dir: join(STACK_ROOT, 'bench'), ephemeral: true, log: (m) => log(`stack: ${m}`) },
  );
  const id = `tt_bench_${randomBytes(5).toString('hex')}`;
  const serverUrl = servers.mysqlUrl;
  const mysqlUrl = withDatabase(serverUrl, id);
  const admin = await mysql.createConnection({ uri: withDatabase(serverUrl, '') });
  try {
    await admin.query(`CREATE DATABASE \`${id}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await admin.end();
  }
  await migrate({ url: mysqlUrl, shards });
  log(`database ${id} on ${new URL(serverUrl).host}, redis ${new URL(servers.redisUrl).host} prefix ${id}:`);
  return {
    serverUrl,
    mysqlUrl,
    database: id,
    redisUrl: servers.redisUrl,
    keyPrefix: `${id}:`,
    shards,
    async cleanup(keep) {
      if (!keep) {
        const conn = await mysql.createConnection({ uri: withDatabase(serverUrl, '') });
        try {
          await conn.query(`DROP DATABASE IF EXISTS \`${id}\``);
        } finally {
          await conn.end();
        }
        const n = await deleteKeys(servers.redisUrl, `${id}:`);
        log(`dropped database ${id}, deleted ${n} Redis keys`);
      } else {
        log(`kept database ${id} and Redis prefix ${id}:`);
      }
      await servers.stop();
    },
  };
}

/**
 * The storage of a db-proxy already running (--target): MYSQL_URL,
 * REDIS_URL and REDIS_KEY_PREFIX as that db-proxy has them. Its database is
 * migrated (idempotent; TeamTalk's own schema migrates forward) and seeded,
 * and never dropped.
 */
export async function openTargetStorage(env: NodeJS.ProcessEnv, shards: number, log: (m: string) => void): Promise<BenchStorage> {
  const mysqlUrl = env.MYSQL_URL;
  const redisUrl = env.REDIS_URL;
  if (!mysqlUrl || !redisUrl) throw new Error('--target needs MYSQL_URL and REDIS_URL: the storage the target db-proxy uses');
  await migrate({ url: mysqlUrl, shards });
  const database = decodeURIComponent(new URL(mysqlUrl).pathname.slice(1)) || 'teamtalk';
  log(`target storage: database ${database}, redis ${new URL(redisUrl).host} prefix "${env.REDIS_KEY_PREFIX ?? ''}" (kept)`);
  const server = new URL(mysqlUrl);
  server.pathname = '/';
  return {
    serverUrl: server.toString(),
    mysqlUrl,
    database,
    redisUrl,
    keyPrefix: env.REDIS_KEY_PREFIX ?? '',
    shards,
    async cleanup() {
      log(`kept database ${database} (the target's)`);
    },
  };
}
