import { ErrorCode, ImError } from '../common/errors.ts';
import { linkAuthFromEnv } from '../common/cluster-auth.ts';
import { intFromEnv, requiredUrlFromEnv, stringFromEnv, urlFromEnv, type Env } from '../common/config.ts';
import type { StorageConfig } from './context.ts';
import type { GuardOptions } from './redis-guard.ts';
import type { ServerOptions } from './server.ts';
import { parseShardMap } from './storage/shard-map.ts';

export interface DbProxyConfig {
  server: ServerOptions;
  workers: number;
  concurrentTasksPerWorker: number;
  storage: StorageConfig;
  logLevel: string;
  /** Port of /healthz and /metrics; -1 turns them off. */
  httpPort: number;
  /** Detection of a Redis that lost its data and rebuild of the unread counters (redis-guard.ts). */
  redisGuard: GuardOptions;
  /** Following the stored shard map (shard-follower.ts). */
  shardMap: { pollMs: number; leaseMs: number };
}

/** Reads and validates db-proxy's settings; a bad value throws IM_ERR_BAD_CONFIG naming the variable. */
export function loadConfig(env: Env): DbProxyConfig {
  const workers = intFromEnv(env, 'DB_PROXY_WORKERS', 2, { min: 0, max: 64 });
  const concurrentTasksPerWorker = intFromEnv(env, 'DB_PROXY_TASKS_PER_WORKER', 8, { min: 1, max: 256 });
  const shards = intFromEnv(env, 'SHARDS', 8, { min: 1, max: 1024 });
  const mysqlUrl = requiredUrlFromEnv(env, 'MYSQL_URL', ['mysql', 'mariadb']);
  if (/^(1|true|yes)$/i.test(stringFromEnv(env, 'REDIS_CLUSTER', '').trim())) {
    throw new ImError(ErrorCode.BAD_CONFIG, 'REDIS_CLUSTER: Redis Cluster is not supported yet (the counter scripts span slots); use a single Redis');
  }
  const shardMap = stringFromEnv(env, 'SHARD_MAP', '');
  parseShardMap(mysqlUrl, shards, shardMap); // fail at start-up, not in a worker
  const logLevel = stringFromEnv(env, 'LOG_LEVEL', 'info');
  const failFastMs = intFromEnv(env, 'DB_PROXY_FAIL_FAST_MS', 1000, { min: 100, max: 600_000 });
  // Messages up to a rebuild's bound that are still under way are answered (and their rows settled) within the fail-fast bound.
  const settleMs = intFromEnv(env, 'DB_PROXY_REBUILD_SETTLE_MS', failFastMs, { min: 0, max: 60_000 });
  const host = stringFromEnv(env, 'DB_PROXY_HOST', '127.0.0.1');
  const config: DbProxyConfig = {
    workers,
    concurrentTasksPerWorker,
    logLevel,
    httpPort: intFromEnv(env, 'DB_PROXY_HTTP_PORT', 10601, { min: -1, max: 65535 }),
    shardMap: mapFollowingFromEnv(env),
    redisGuard: {
      checkMs: intFromEnv(env, 'DB_PROXY_REDIS_CHECK_MS', 1000, { min: 0, max: 3_600_000 }),
      batch: intFromEnv(env, 'DB_PROXY_REBUILD_BATCH', 500, { min: 1, max: 10_000 }),
      settleMs,
      // Outlives the longest batch (it settles once); extended after each.
      lockTtlMs: 30_000 + 4 * settleMs,
    },
    server: {
      host,
      port: intFromEnv(env, 'DB_PROXY_PORT', 10600, { min: 0, max: 65535 }),
      auth: linkAuthFromEnv(env, host, 'DB_PROXY_HOST', 'DB_PROXY_TRUSTED_PEERS'),
      maxLinks: intFromEnv(env, 'DB_PROXY_MAX_LINKS', 256, { min: 1, max: 65536 }),
      batchMax: intFromEnv(env, 'DB_PROXY_BATCH_MAX', 256, { min: 1, max: 10_000 }),
      batchWindowMs: intFromEnv(env, 'DB_PROXY_BATCH_WINDOW_MS', 1, { min: 0, max: 1000 }),
      maxInFlightBatches: Math.max(1, workers) * concurrentTasksPerWorker,
      maxQueued: intFromEnv(env, 'DB_PROXY_MAX_QUEUED', 20_000, { min: 1, max: 1_000_000 }),
      maxQueuedBytes: intFromEnv(env, 'DB_PROXY_MAX_QUEUED_BYTES', 64 * 1024 * 1024, { min: 65536 }),
      batchMaxBytes: intFromEnv(env, 'DB_PROXY_BATCH_MAX_BYTES', 8 * 1024 * 1024, { min: 1024 }),
      failFastMs,
      maxInFlight: intFromEnv(env, 'DB_PROXY_MAX_IN_FLIGHT_PER_LINK', 4096, { min: 1, max: 1_000_000 }),
      maxFrameLength: intFromEnv(env, 'DB_PROXY_MAX_FRAME_BYTES', 4 * 1024 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
      maxOutboundBytes: intFromEnv(env, 'DB_PROXY_MAX_OUTBOUND_BYTES', 64 * 1024 * 1024, { min: 65536 }),
      heartbeatIntervalMs: intFromEnv(env, 'DB_PROXY_HEARTBEAT_MS', 5000, { min: 100 }),
      linkTimeoutMs: intFromEnv(env, 'DB_PROXY_LINK_TIMEOUT_MS', 30_000, { min: 500 }),
      shutdownTimeoutMs: intFromEnv(env, 'DB_PROXY_SHUTDOWN_TIMEOUT_MS', 10_000, { min: 0 }),
    },
    storage: {
      mysqlUrl,
      redisUrl: requiredUrlFromEnv(env, 'REDIS_URL', ['redis', 'rediss']),
      redisTokenUrl: urlFromEnv(env, 'REDIS_URL_TOKEN', ['redis', 'rediss']),
      redisGroupUrl: urlFromEnv(env, 'REDIS_URL_GROUP', ['redis', 'rediss']),
      redisKeyPrefix: stringFromEnv(env, 'REDIS_KEY_PREFIX', ''),
      shards,
      shardMap,
      mysqlConnections: intFromEnv(env, 'DB_PROXY_MYSQL_CONNECTIONS', 8, { min: 1, max: 1000 }),
      mysqlQueueLimit: intFromEnv(env, 'DB_PROXY_MYSQL_QUEUE', 1000, { min: 1 }),
      connectTimeoutMs: intFromEnv(env, 'DB_PROXY_CONNECT_TIMEOUT_MS', 2000, { min: 100 }),
      queryTimeoutMs: intFromEnv(env, 'DB_PROXY_QUERY_TIMEOUT_MS', failFastMs, { min: 100 }),
      acquireTimeoutMs: intFromEnv(env, 'DB_PROXY_MYSQL_ACQUIRE_TIMEOUT_MS', Math.ceil(failFastMs / 2), { min: 10 }),
      statementTimeoutMs: intFromEnv(env, 'DB_PROXY_STATEMENT_TIMEOUT_MS', failFastMs, { min: 0 }),
      redisCommandTimeoutMs: intFromEnv(env, 'DB_PROXY_REDIS_TIMEOUT_MS', Math.ceil(failFastMs / 2), { min: 50 }),
      logLevel,
      replicas: replicasFromEnv(env, mysqlUrl),
      replicaMaxLagMs: intFromEnv(env, 'DB_PROXY_REPLICA_MAX_LAG_MS', 1000, { min: 0, max: 3_600_000 }),
      replicaCheckMs: intFromEnv(env, 'DB_PROXY_REPLICA_CHECK_MS', 250, { min: 20, max: 60_000 }),
    },
  };
  return Object.freeze(config);
}

/** How db-proxy follows the stored shard map; the lease must outlast a few polls. */
function mapFollowingFromEnv(env: Env): { pollMs: number; leaseMs: number } {
  const pollMs = intFromEnv(env, 'DB_PROXY_MAP_POLL_MS', 500, { min: 20, max: 60_000 });
  const leaseMs = intFromEnv(env, 'DB_PROXY_MAP_LEASE_MS', 3000, { min: 100, max: 600_000 });
  if (leaseMs < 3 * pollMs) {
    throw new ImError(ErrorCode.BAD_CONFIG, `DB_PROXY_MAP_LEASE_MS (${leaseMs}) must be at least 3 × DB_PROXY_MAP_POLL_MS (${pollMs})`);
  }
  return { pollMs, leaseMs };
}

/**
 * Read replicas: MYSQL_REPLICA_URL (of MYSQL_URL's server, TeamTalk's
 * teamtalk_slave) and MYSQL_REPLICAS, `<server url>><replica url>` pairs
 * separated by `;`, for the servers of the shard map.
 */
export function replicasFromEnv(env: Env, mysqlUrl: string): [string, string][] {
  const out: [string, string][] = [];
  const main = stringFromEnv(env, 'MYSQL_REPLICA_URL', '').trim();
  if (main !== '') out.push([mysqlUrl, checkUrl(main, 'MYSQL_REPLICA_URL')]);
  for (const part of stringFromEnv(env, 'MYSQL_REPLICAS', '').split(';').map((p) => p.trim()).filter(Boolean)) {
    const gt = part.indexOf('>');
    if (gt <= 0) throw new ImError(ErrorCode.BAD_CONFIG, `MYSQL_REPLICAS: "${part}" is not "<server url>><replica url>"`);
    out.push([checkUrl(part.slice(0, gt).trim(), 'MYSQL_REPLICAS'), checkUrl(part.slice(gt + 1).trim(), 'MYSQL_REPLICAS')]);
  }
  return out;
}

function checkUrl(url: string, name: string): string {
  if (!/^(mysql|mariadb):\/\/[^\s]+$/.test(url)) throw new ImError(ErrorCode.BAD_CONFIG, `${name}: "${url}" is not a mysql:// URL`);
  return url;
}
