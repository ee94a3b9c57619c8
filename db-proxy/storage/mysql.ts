import mysql from 'mysql2/promise';
import type { Pool, PoolConnection } from 'mysql2/promise';
import { ErrorCode, ImError } from '../../common/errors.ts';
import type { ShardMap } from './shard-map.ts';

export interface MysqlOptions {
  /** Connections per server per worker. */
  connectionLimit: number;
  /** Callers waiting for a connection before new ones are refused. */
  queueLimit: number;
  connectTimeoutMs: number;
  /** Upper bound on one query. */
  queryTimeoutMs: number;
}

/**
 * The MySQL side of one worker: a pool per server named in the shard map.
 * Every query is parameterized; table names come only from our own
 * shard arithmetic, never from input.
 */
export class Mysql {
  readonly map: ShardMap;
  private readonly pools = new Map<string, Pool>();
  private readonly opts: MysqlOptions;

  constructor(map: ShardMap, opts: MysqlOptions) {
    this.map = map;
    this.opts = opts;
  }

  /** The pool holding unsharded tables. */
  get main(): Pool {
    return this.poolFor(this.map.mainUrl);
  }

  /** The pool holding shard `shard`'s tables. */
  shard(shard: number): Pool {
    const url = this.map.shardUrls[shard];
    if (url === undefined) throw new ImError(ErrorCode.STORAGE, `no server for shard ${shard}`);
    return this.poolFor(url);
  }

  async query<T = unknown>(pool: Pool, sql: string, params: unknown[] = []): Promise<T> {
    try {
      const [rows] = await pool.query({ sql, values: params, timeout: this.opts.queryTimeoutMs });
      return rows as T;
    } catch (err) {
      throw storageError(err);
    }
  }

  /**
   * Runs `fn` on one connection of `pool`. A connection whose `fn` failed is
   * destroyed rather than returned: it may hold an open transaction.
   */
  async withConnection<T>(pool: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    let conn: PoolConnection;
    try {
      conn = await pool.getConnection();
    } catch (err) {
      throw storageError(err);
    }
    try {
      const out = await fn(conn);
      conn.release();
      return out;
    } catch (err) {
      conn.destroy();
      throw storageError(err);
    }
  }

  /** A query on a connection held by the caller, with the usual time bound. */
  async queryOn<T = unknown>(conn: PoolConnection, sql: string, params: unknown[] = []): Promise<T> {
    const [rows] = await conn.query({ sql, values: params, timeout: this.opts.queryTimeoutMs });
    return rows as T;
  }

  /** Runs `fn` in one transaction on a connection of `pool` (a failure destroys the connection: rollback). */
  transaction<T>(pool: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    return this.withConnection(pool, async (conn) => {
      await conn.beginTransaction();
      const out = await fn(conn);
      await conn.commit();
      return out;
    });
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.end()));
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
      // A dead server must not crash the process; errors surface per query.
      pool.on('connection', (conn) => conn.on('error', () => undefined));
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
