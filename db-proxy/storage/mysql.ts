import mysql from 'mysql2/promise';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { ErrorCode, ImError, isImError } from '../../common/errors.ts';
import { remainingMs } from './deadline.ts';
import { classify, notSent } from './mysql-errors.ts';
import type { ShardMap } from './shard-map.ts';

export interface MysqlOptions {
  /** Connections per server per worker. */
  connectionLimit: number;
  /** Callers waiting for a connection before new ones are refused. */
  queueLimit: number;
  connectTimeoutMs: number;
  /** Upper bound on one query (or one connection's whole use), client side. */
  queryTimeoutMs: number;
  /** Upper bound on the wait for a pool connection. */
  acquireTimeoutMs: number;
  /** Server-side bound on one statement (MariaDB max_statement_time); 0 leaves the server's own. */
  statementTimeoutMs: number;
  /** Read replicas: server URL → its replica's URL (history and lookups may go there). */
  replicas?: ReadonlyMap<string, string>;
  /** A replica further behind than this (or not measured lately) is not read; its server is. */
  replicaMaxLagMs?: number;
  /** How often each replica's lag is measured. */
  replicaCheckMs?: number;
}

/** What db-proxy writes on each server with a replica, and reads on the replica: replication lag. */
export const REPLICA_HEARTBEAT_SQL = 'REPLACE INTO replica_heartbeat (id, at) VALUES (1, NOW(3))';

/**
 * The MySQL side of one worker: a pool per server named in the shard map.
 * Every query is parameterized; table names come only from our own
 * shard arithmetic, never from input.
 *
 * Every wait is bounded, and cut to the current batch deadline: the wait
 * for a pool connection, and the use of a connection (a timer of our own:
 * mysql2's `timeout` starts only when a command reaches the head of its
 * connection's queue, so a command queued behind a stuck one waits forever).
 * A connection that timed out is destroyed, never returned to the pool. The
 * server bounds each statement too (max_statement_time), so a statement it
 * cannot finish in time fails there instead of committing long after the
 * client gave up.
 */
export class Mysql {
  private current: ShardMap;
  private readonly pools = new Map<string, Pool>();
  private readonly opts: MysqlOptions;
  private ended = false;

  constructor(map: ShardMap, opts: MysqlOptions) {
    this.current = map;
    this.opts = opts;
  }

  /** The shard map these pools follow. */
  get map(): ShardMap {
    return this.current;
  }

  /** Follows a newer version of the map: later calls of shard() use it (pools of servers it names open on first use). */
  setMap(map: ShardMap): void {
    if (map.mainUrl !== this.current.mainUrl) throw new ImError(ErrorCode.BAD_CONFIG, 'a shard map cannot move the main database');
    this.current = map;
  }

  /** The pool holding unsharded tables. */
  get main(): Pool {
    return this.poolFor(this.current.mainUrl);
  }

  /** Where lookups of unsharded tables may read: MYSQL_URL's replica while it is fresh, else the main server. */
  get mainRead(): Pool {
    return this.readPool(this.current.mainUrl);
  }

  /** Where history of shard `shard` may be read: its server's replica while it is fresh, else the server. Never for writes or msg-id seeds. */
  shardRead(shard: number): Pool {
    const url = this.current.shardUrls[shard];
    if (url === undefined) throw new ImError(ErrorCode.STORAGE, `no server for shard ${shard}`);
    return this.readPool(url);
  }

  /** Measured lag of each replica (ms; Infinity when unknown), by replica URL. */
  replicaLag(): Map<string, number> {
    const now = Date.now();
    return new Map([...this.lags].map(([url, m]) => [url, now - m.at > 3 * this.checkMs ? Infinity : m.lagMs]));
  }

  private readonly lags = new Map<string, { lagMs: number; at: number }>();
  private lagTimer: NodeJS.Timeout | null = null;

  private get checkMs(): number {
    return this.opts.replicaCheckMs ?? 250;
  }

  private readPool(url: string): Pool {
    const replica = this.opts.replicas?.get(url);
    if (replica === undefined) return this.poolFor(url);
    this.watchReplicas();
    const m = this.lags.get(replica);
    const fresh = m !== undefined && Date.now() - m.at <= 3 * this.checkMs && m.lagMs <= (this.opts.replicaMaxLagMs ?? 1000);
    return this.poolFor(fresh ? replica : url);
  }

  /** Measures every replica's lag from its copy of the heartbeat row, from the first read on. */
  private watchReplicas(): void {
    if (this.lagTimer || this.ended) return;
    const measure = (): void => {
      for (const replica of new Set(this.opts.replicas!.values())) {
        this.poolFor(replica)
          .query('SELECT TIMESTAMPDIFF(MICROSECOND, at, NOW(3)) DIV 1000 AS lag FROM replica_heartbeat WHERE id = 1')
          .then(([rows]) => {
            const lag = Number((rows as { lag?: number }[])[0]?.lag ?? NaN);
            if (Number.isFinite(lag)) this.lags.set(replica, { lagMs: Math.max(0, lag), at: Date.now() });
            else this.lags.delete(replica);
          })
          .catch(() => this.lags.delete(replica));
      }
    };
    measure();
    this.lagTimer = setInterval(measure, this.checkMs);
    this.lagTimer.unref();
  }

  /** The pool holding shard `shard`'s tables. */
  shard(shard: number): Pool {
    const url = this.current.shardUrls[shard];
    if (url === undefined) throw new ImError(ErrorCode.STORAGE, `no server for shard ${shard}`);
    return this.poolFor(url);
  }

  /** One statement on a pooled connection; a server error keeps the connection, anything else drops it. */
  async query<T = unknown>(pool: Pool, sql: string, params: unknown[] = []): Promise<T> {
    const conn = await this.acquire(pool);
    try {
      const out = await this.queryOn<T>(conn, sql, params);
      conn.release();
      return out;
    } catch (err) {
      if (classify(err) === 'failed') conn.release();
      else conn.destroy();
      throw storageError(err);
    }
  }

  /**
   * Runs `fn` on one connection of `pool`, bounded as a whole. A connection
   * whose `fn` failed is destroyed rather than returned: it may hold an open
   * transaction.
   */
  async withConnection<T>(pool: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await this.acquire(pool);
    try {
      const out = await this.bounded(conn, () => fn(conn));
      conn.release();
      return out;
    } catch (err) {
      conn.destroy();
      throw storageError(err);
    }
  }

  /** A query on a connection held by the caller, with the usual time bound. */
  queryOn<T = unknown>(conn: PoolConnection, sql: string, params: unknown[] = []): Promise<T> {
    return this.bounded(conn, () => conn.query({ sql, values: params }).then(([rows]) => rows as T));
  }

  /** Runs `fn` in one transaction on a connection of `pool` (a failure destroys the connection: rollback). */
  transaction<T>(pool: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    return this.withConnection(pool, async (conn) => {
      await this.queryOn(conn, 'START TRANSACTION');
      const out = await fn(conn);
      await this.queryOn(conn, 'COMMIT');
      return out;
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  async close(): Promise<void> {
    this.ended = true;
    if (this.lagTimer) clearInterval(this.lagTimer);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.end()));
  }

  private async acquire(pool: Pool): Promise<PoolConnection> {
    const ms = remainingMs(this.opts.acquireTimeoutMs);
    if (ms <= 0) throw notSent('no time left to wait for a connection');
    const pending = pool.getConnection();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(notSent(`no connection within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([pending, timeout]);
    } catch (err) {
      // A connection that arrives after we gave up goes back to the pool.
      pending.then((c) => c.release(), () => undefined);
      throw isImError(err) ? err : notSent(err instanceof Error ? err.message : String(err), err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** `work` on `conn`, or a TIMEOUT (and `conn` destroyed) once the bound is over. */
  private async bounded<T>(conn: PoolConnection, work: () => Promise<T>): Promise<T> {
    const ms = remainingMs(this.opts.queryTimeoutMs);
    if (ms <= 0) throw notSent('no time left for the statement');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        conn.destroy();
        reject(new ImError(ErrorCode.TIMEOUT, `mysql: no answer within ${ms} ms`));
      }, ms);
    });
    try {
      return await Promise.race([work(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private poolFor(url: string): Pool {
    let pool = this.pools.get(url);
    if (!pool) {
      pool = mysql.createPool({
        uri: url,
        connectionLimit: this.opts.connectionLimit,
        queueLimit: this.opts.queueLimit,
        connectTimeout: this.opts.connectTimeoutMs,
        enableKeepAlive: true,
        charset: 'utf8mb4_general_ci',
        supportBigNumbers: true,
        // Lets a batch send START TRANSACTION; INSERT...; COMMIT as one round
        // trip. Values are always bound, never spliced into the text.
        multipleStatements: true,
        bigNumberStrings: false,
      });
      const statementS = this.opts.statementTimeoutMs / 1000;
      const lockWaitS = Math.max(1, Math.ceil(statementS));
      pool.on('connection', (conn) => {
        // A dead server must not crash the process; errors surface per query.
        conn.on('error', () => undefined);
        if (statementS <= 0) return;
        // The pool hands over its callback-style connection here. Queued ahead
        // of the first command. MariaDB only: MySQL lacks the variable and
        // refuses it, which leaves its own bounds in place.
        const core = conn as unknown as { query(sql: string, cb: (err: unknown) => void): void };
        core.query(`SET SESSION max_statement_time = ${statementS}`, () => undefined);
        core.query(`SET SESSION innodb_lock_wait_timeout = ${lockWaitS}`, () => undefined);
      });
      this.pools.set(url, pool);
    }
    return pool;
  }
}

export function storageError(err: unknown): ImError {
  if (err instanceof ImError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new ImError(ErrorCode.STORAGE, `mysql: ${msg}`, { cause: err });
}

/**
 * A mysql2-Pool-shaped view of `mysql`'s main server with every query
 * bounded (acquire and use; a connection that hangs is destroyed): for the
 * readers of control tables, which must not hang on a dead connection.
 * Only `query` and `end` are there.
 */
export function boundedPool(mysql: Mysql): Pool {
  const view = {
    query: (sql: string, values?: unknown[]) => mysql.query(mysql.main, sql, values ?? []).then((rows) => [rows, []]),
    end: () => mysql.close(),
  };
  return view as unknown as Pool;
}
