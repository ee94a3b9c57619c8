import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import type { Logger } from 'pino';
import { ErrorCode, ImError } from '../common/errors.ts';
import { processMetrics, startOpsHttp, type OpsServer } from '../common/ops-http.ts';
import type { DbProxyConfig } from './config.ts';
import { createContext, type StorageConfig } from './context.ts';
import { createExecutor, type Executor } from './executor.ts';
import { registry } from './handlers/index.ts';
import { RedisGuard } from './redis-guard.ts';
import { answerMetrics } from './metrics.ts';
import { DbProxyServer } from './server.ts';
import { ShardMapFollower, shardMapChannel } from './shard-follower.ts';
import { ShardFence } from './storage/shard-fence.ts';
import { checkShardLayout } from './storage/shard-layout.ts';
import { boundedPool, Mysql, REPLICA_HEARTBEAT_SQL } from './storage/mysql.ts';
import { mapText, parseShardMap, redactUrl, type ShardMap } from './storage/shard-map.ts';

export interface RunningDbProxy {
  address: { host: string; port: number };
  /** Port of /healthz and /metrics, when served. */
  httpPort: number | null;
  server: DbProxyServer;
  /** Rebuilds the unread counters when Redis lost its data. */
  redisGuard: RedisGuard;
  /** Graceful: answers what is in flight, then closes links and workers. Idempotent. */
  close(): Promise<void>;
}

/**
 * Reads (or seeds) the shard map in force and follows it, checks the shard
 * layout (refuses to start on a wrong one), then starts the executor
 * (workers or inline) and the listener.
 */
export async function startDbProxy(config: DbProxyConfig, log: Logger): Promise<RunningDbProxy> {
  await refuseRedisCluster(config.storage.redisUrl, config.storage.connectTimeoutMs);
  const fence = new ShardFence();
  const follower = await startFollower(config, fence, log.child({ part: 'shard-map' }));
  let executor: Executor;
  let storage: StorageConfig;
  try {
    const map = follower.current;
    // Workers start on the stored map; they follow its versions through the fence.
    storage = { ...config.storage, shards: map.shards, shardMap: mapText(map), mapVersion: map.version };
    executor = await createExecutor({
      workers: config.workers,
      concurrentTasksPerWorker: config.concurrentTasksPerWorker,
      maxQueue: config.server.maxInFlightBatches * 2,
      storage,
      fence,
    });
  } catch (err) {
    await follower.close();
    throw err;
  }
  const server = new DbProxyServer(config.server, executor, registry, log);
  let address;
  try {
    address = await server.listen();
  } catch (err) {
    await executor.close();
    await follower.close();
    throw err;
  }
  let ops: OpsServer | null = null;
  if (config.httpPort >= 0) {
    try {
      ops = await startOpsHttp(config.server.host, config.httpPort, {
        health: () => ({ ok: true, links: server.stats.links, queued: server.queued }),
        metrics: () => [
          { name: 'dbproxy_links', help: 'Open access-server links.', type: 'gauge', value: server.stats.links },
          { name: 'dbproxy_links_refused_total', help: 'Links dropped for want of room (handshakes or DB_PROXY_MAX_LINKS).', type: 'counter', value: server.stats.linksRefused },
          { name: 'dbproxy_queued_requests', help: 'Requests waiting for a batch.', type: 'gauge', value: server.queued },
          { name: 'dbproxy_requests_total', help: 'Requests read (heartbeats excluded).', type: 'counter', value: server.stats.requests },
          { name: 'dbproxy_replies_total', help: 'Answers written.', type: 'counter', value: server.stats.replies },
          { name: 'dbproxy_replies_dropped_total', help: 'Answers whose link was gone.', type: 'counter', value: server.stats.repliesDropped },
          { name: 'dbproxy_refused_overload_total', help: 'Requests refused because the queue was full.', type: 'counter', value: server.stats.refusedOverload },
          { name: 'dbproxy_unknown_commands_total', help: 'Requests with a command id db-proxy does not serve.', type: 'counter', value: server.stats.unknownCommands },
          ...answerMetrics(server, executor.outcomes),
          ...processMetrics('dbproxy'),
        ],
      });
    } catch (err) {
      server.destroy();
      await executor.close();
      await follower.close();
      throw err;
    }
  }
  const heartbeats = startReplicaHeartbeats(config.storage.replicas ?? [], config.storage.replicaCheckMs ?? 250, log);
  // A few connections of its own: a rebuild must not take the workers' pools.
  const guardCtx = createContext({ ...storage, mysqlConnections: 2 }, log.child({ part: 'redis-guard' }), fence);
  const redisGuard = new RedisGuard(guardCtx, config.redisGuard, log.child({ part: 'redis-guard' }));
  redisGuard.start();
  let closing: Promise<void> | null = null;
  return {
    address,
    server,
    redisGuard,
    httpPort: ops?.port ?? null,
    close() {
      closing ??= redisGuard
        .close()
        .then(() => server.close())
        .then(() => ops?.close())
        .then(() => executor.close())
        .then(() => follower.close())
        .then(() => heartbeats.close())
        .then(() => guardCtx.close());
      return closing;
    },
  };
}

/** The shard map follower of one db-proxy, on a small pool of its own on the main database (closed with it). */
async function startFollower(config: DbProxyConfig, fence: ShardFence, log: Logger): Promise<ShardMapFollower> {
  const { mysqlUrl, shards, shardMap, connectTimeoutMs, redisUrl, redisKeyPrefix } = config.storage;
  const { leaseMs } = config.shardMap;
  // Every read bounded well inside the lease: a connection that hangs is dropped, the next poll gets another.
  const boundMs = Math.max(200, Math.min(Math.floor(leaseMs / 3), 2000));
  const own = new Mysql(parseShardMap(mysqlUrl, 1), {
    connectionLimit: 2,
    queueLimit: 16,
    connectTimeoutMs: Math.min(connectTimeoutMs, boundMs),
    queryTimeoutMs: boundMs,
    acquireTimeoutMs: boundMs,
    statementTimeoutMs: 0,
  });
  const pool = boundedPool(own);
  const subscriber = new Redis(redisUrl, { connectTimeout: connectTimeoutMs, retryStrategy: (n) => Math.min(50 * 2 ** Math.min(n, 6), 2000) });
  subscriber.on('error', () => undefined);
  const { queryTimeoutMs, statementTimeoutMs } = config.storage;
  // The client cuts a transaction at queryTimeoutMs (its connection dropped: rolled back), the server each statement at statementTimeoutMs.
  const txnMs = Math.max(queryTimeoutMs, statementTimeoutMs ?? queryTimeoutMs);
  const follower = new ShardMapFollower(pool, fence, { ...config.shardMap, txnMs, channel: shardMapChannel(redisKeyPrefix) }, log, subscriber);
  try {
    const check = (map: ShardMap): Promise<void> => checkShardLayout(map, { connectTimeoutMs });
    await follower.start(parseShardMap(mysqlUrl, shards, shardMap), shardMap.trim() !== '', check);
  } catch (err) {
    await follower.close();
    throw err;
  }
  return follower;
}

/** Writes the heartbeat row on every server that has a read replica, for the replicas' lag (storage/mysql.ts). */
function startReplicaHeartbeats(replicas: readonly [string, string][], everyMs: number, log: Logger): { close(): Promise<void> } {
  const servers = [...new Set(replicas.map(([server]) => server))];
  if (servers.length === 0) return { close: async () => undefined };
  const pools = servers.map((uri) => mysql.createPool({ uri, connectionLimit: 1, connectTimeout: 2000 }));
  const failing = new Set<number>();
  const timer = setInterval(() => {
    pools.forEach((p, i) =>
      p.query(REPLICA_HEARTBEAT_SQL).then(
        () => failing.delete(i),
        (err: unknown) => {
          if (!failing.has(i)) log.warn({ err, server: redactUrl(servers[i]!) }, 'replica heartbeat not written: its replica will not be read');
          failing.add(i);
        },
      ),
    );
  }, everyMs);
  timer.unref();
  return {
    async close() {
      clearInterval(timer);
      await Promise.allSettled(pools.map((p) => p.end()));
    },
  };
}

/**
 * A node of a Redis Cluster answers single-slot commands and refuses the
 * rest (CROSSSLOT, MOVED): the counter scripts span keys of many slots, so
 * db-proxy does not start on one rather than fail request by request. An
 * unreachable Redis is not refused here (db-proxy starts and answers
 * failures until it is back).
 */
async function refuseRedisCluster(url: string, connectTimeoutMs: number): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: connectTimeoutMs, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  probe.on('error', () => undefined);
  let info = '';
  try {
    await probe.connect();
    info = await probe.info('cluster');
  } catch {
    return;
  } finally {
    probe.disconnect();
  }
  if (/cluster_enabled:1/.test(info)) {
    throw new ImError(ErrorCode.BAD_CONFIG, `REDIS_URL (${redactUrl(url)}) is a Redis Cluster node: not supported yet (the counter scripts span slots); use a single Redis`);
  }
}
