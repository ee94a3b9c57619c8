import type { Redis } from 'ioredis';
import pino from 'pino';
import type { Logger } from 'pino';
import { withMarkRead } from './handlers/group-members.ts';
import { withGroupBump } from './handlers/message-effects.ts';
import { withUnreadScripts } from './handlers/unread-counters.ts';
import { withAlloc } from './handlers/msg-ids.ts';
import type { HandlerContext } from './handlers/types.ts';
import { Mysql } from './storage/mysql.ts';
import { createRedis } from './storage/redis.ts';
import { withoutDeadline } from './storage/deadline.ts';
import { ShardFence } from './storage/shard-fence.ts';
import { parseShardMap } from './storage/shard-map.ts';
import { mapAt } from './storage/shard-map-store.ts';

/** What a worker needs to build its own connections (plain data: it crosses threads). */
export interface StorageConfig {
  mysqlUrl: string;
  redisUrl: string;
  /** Device tokens' Redis (REDIS_URL_TOKEN); unset: redisUrl. */
  redisTokenUrl?: string;
  /** Group caches' Redis (REDIS_URL_GROUP); unset: redisUrl. */
  redisGroupUrl?: string;
  redisKeyPrefix: string;
  shards: number;
  /** SHARD_MAP text; empty puts every shard on mysqlUrl. Once started, the text of the stored map in force. */
  shardMap: string;
  /** Version of `shardMap` in shard_map (0: not stored, as in tools that read the environment only). */
  mapVersion?: number;
  mysqlConnections: number;
  mysqlQueueLimit: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  /** Bound on the wait for a MySQL pool connection; default half of queryTimeoutMs. */
  acquireTimeoutMs?: number;
  /** Server-side bound on one statement (MariaDB max_statement_time); default queryTimeoutMs. */
  statementTimeoutMs?: number;
  redisCommandTimeoutMs: number;
  logLevel: string;
  /** Read replicas: [server URL, its replica's URL] (MYSQL_REPLICA_URL, MYSQL_REPLICAS). */
  replicas?: [string, string][];
  replicaMaxLagMs?: number;
  replicaCheckMs?: number;
}

export interface OwnedContext extends HandlerContext {
  close(): Promise<void>;
}

/**
 * Opens one set of connections (one per worker, or one for inline mode).
 * `fence` is db-proxy's (shared with its workers); a context without one
 * (tools, tests) has a fence of its own nobody freezes.
 */
export function createContext(cfg: StorageConfig, log?: Logger, fence: ShardFence = new ShardFence()): OwnedContext {
  const mysql = new Mysql(parseShardMap(cfg.mysqlUrl, cfg.shards, cfg.shardMap, cfg.mapVersion ?? 0), {
    connectionLimit: cfg.mysqlConnections,
    queueLimit: cfg.mysqlQueueLimit,
    connectTimeoutMs: cfg.connectTimeoutMs,
    queryTimeoutMs: cfg.queryTimeoutMs,
    acquireTimeoutMs: cfg.acquireTimeoutMs ?? Math.ceil(cfg.queryTimeoutMs / 2),
    statementTimeoutMs: cfg.statementTimeoutMs ?? cfg.queryTimeoutMs,
    replicas: new Map(cfg.replicas ?? []),
    replicaMaxLagMs: cfg.replicaMaxLagMs,
    replicaCheckMs: cfg.replicaCheckMs,
  });
  const redis = createRedis({
    url: cfg.redisUrl,
    keyPrefix: cfg.redisKeyPrefix,
    commandTimeoutMs: cfg.redisCommandTimeoutMs,
    connectTimeoutMs: cfg.connectTimeoutMs,
  });
  const other = (url: string | undefined): Redis =>
    url && url !== cfg.redisUrl
      ? createRedis({ url, keyPrefix: cfg.redisKeyPrefix, commandTimeoutMs: cfg.redisCommandTimeoutMs, connectTimeoutMs: cfg.connectTimeoutMs })
      : redis;
  const tokens = other(cfg.redisTokenUrl);
  const groups = cfg.redisGroupUrl === cfg.redisTokenUrl && tokens !== redis ? tokens : other(cfg.redisGroupUrl);
  // Scripts are defined before any command is sent: defining one while an
  // auto-pipeline is open breaks that pipeline.
  withAlloc(redis);
  withGroupBump(redis);
  withUnreadScripts(redis);
  withMarkRead(redis);
  const logger = log ?? pino({ level: cfg.logLevel }).child({ proc: 'db-proxy-worker' });
  let loading: Promise<void> | null = null;
  const syncMap = (): Promise<void> => {
    const want = fence.version;
    if (want === 0 || want === mysql.map.version) return Promise.resolve();
    loading ??= withoutDeadline(() => mapAt(mysql.main, cfg.mysqlUrl, want))
      .then((map) => {
        if (map.version > mysql.map.version) mysql.setMap(map);
      })
      .finally(() => {
        loading = null;
      });
    return loading.then(syncMap);
  };
  return {
    mysql,
    redis,
    tokens,
    groups,
    get shards() {
      return mysql.map.shards;
    },
    fence,
    syncMap,
    log: logger,
    now: () => Math.floor(Date.now() / 1000),
    async close() {
      for (const c of new Set([redis, tokens, groups])) c.disconnect();
      await mysql.close();
    },
  };
}

/** Waits (bounded) until Redis (and the token and group Redis, when they are others) is connected, so the first requests do not fail needlessly. */
export async function whenRedisReady(ctx: HandlerContext, timeoutMs: number): Promise<void> {
  const clients = [...new Set([ctx.redis, ctx.tokens, ctx.groups])];
  await Promise.all(clients.map((c) => whenReady(c, timeoutMs)));
}

function whenReady(redis: HandlerContext['redis'], timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    redis.once('ready', done);
    function done(): void {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    }
  });
}
