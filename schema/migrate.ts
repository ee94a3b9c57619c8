/**
 * Schema migrator. Applies the numbered files in schema/ (NNN_name.sql) once
 * each, in order, recording name and checksum in `schema_migrations`; then
 * creates the message shard tables 0..shards-1 from schema/shards/ and
 * records the shard count in `schema_shards`. With a shard map, each server
 * it names gets the shard tables it holds and its own `schema_shards`.
 *
 * Running it again is a no-op. Editing a file that was already applied is
 * refused: add a new numbered file instead.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { ErrorCode, ImError } from '../common/errors.ts';
import { formatRanges, hostsOf, parseShardMap, redactUrl, samePlacement, type ShardMap } from '../db-proxy/storage/shard-map.ts';
import { ensureShards, SHARD_TEMPLATES } from './shards.ts';

export const SCHEMA_DIR = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_DATABASE = 'teamtalk';
export const MAX_SHARDS = 1024;

export interface MigrateOptions {
  /** mysql://user:pass@host:port/database; the database defaults to `teamtalk`. */
  url: string;
  /** Number of IMMessage_N / IMGroupMessage_N tables (1..1024). */
  shards: number;
  log?: (msg: string) => void;
  /** Folder holding the NNN_*.sql files and shards/; defaults to this folder. */
  dir?: string;
  /**
   * SHARD_MAP text: shard tables go to the servers it names (their databases
   * created if missing), the rest of the schema and unnamed shards to `url`.
   */
  shardMap?: string;
}

/** What a run did on one server of the shard map other than the main one. */
export interface ShardHostResult {
  /** The server's URL, password redacted. */
  url: string;
  shards: readonly number[];
  tablesCreated: string[];
}

export interface MigrateResult {
  database: string;
  /** Migration files applied by this run, in order. */
  applied: string[];
  /** Shard tables created by this run on the main server. */
  shardTablesCreated: string[];
  /** The other servers of the shard map, in the order the map names them. */
  shardHosts: ShardHostResult[];
}

interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

const MIGRATION_FILE = /^\d{3}_[a-z0-9_]+\.sql$/;
const IDENTIFIER = /^[A-Za-z0-9_]{1,64}$/;

function fail(message: string, cause?: unknown): ImError {
  return new ImError(ErrorCode.MIGRATION, message, cause === undefined ? undefined : { cause });
}

/** Splits a MySQL URL into the server URL (no database) and the database name. */
export function splitMysqlUrl(url: string): { serverUrl: string; database: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new ImError(ErrorCode.BAD_CONFIG, 'MySQL URL is not a valid URL', { cause: err });
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || DEFAULT_DATABASE;
  if (!IDENTIFIER.test(database)) {
    throw new ImError(ErrorCode.BAD_CONFIG, `database name "${database}" must match ${IDENTIFIER}`);
  }
  parsed.pathname = '/';
  return { serverUrl: parsed.toString(), database };
}

/** The same server URL naming another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

export async function loadMigrations(dir: string): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((n) => MIGRATION_FILE.test(n)).sort();
  const seen = new Set<string>();
  const out: Migration[] = [];
  for (const name of names) {
    const prefix = name.slice(0, 3);
    if (seen.has(prefix)) throw fail(`two migrations share the number ${prefix} (${name})`);
    seen.add(prefix);
    const sql = await readFile(join(dir, name), 'utf8');
    out.push({ name, sql, checksum: checksumOf(sql) });
  }
  return out;
}

async function ensureBookkeeping(conn: Connection): Promise<void> {
  // Written by db-proxy on each server that has a read replica, read on the replica: its replication lag.
  await conn.query(
    `CREATE TABLE IF NOT EXISTS replica_heartbeat (
       id tinyint unsigned NOT NULL,
       at datetime(3) NOT NULL,
       PRIMARY KEY (id)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  );
  await conn.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       name varchar(255) NOT NULL,
       checksum char(64) NOT NULL,
       applied_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
       PRIMARY KEY (name)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  );
  await conn.query(
    `CREATE TABLE IF NOT EXISTS schema_shards (
       template varchar(64) NOT NULL,
       shards int unsigned NOT NULL,
       updated_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
       PRIMARY KEY (template)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  );
}

async function applyMigrations(conn: Connection, migrations: Migration[], log: (m: string) => void): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT name, checksum FROM schema_migrations');
  const done = new Map(rows.map((r) => [String(r.name), String(r.checksum)]));
  for (const name of done.keys()) {
    if (!migrations.some((m) => m.name === name)) log(`warning: applied migration ${name} has no file any more`);
  }
  const applied: string[] = [];
  for (const m of migrations) {
    const recorded = done.get(m.name);
    if (recorded !== undefined) {
      if (recorded !== m.checksum) {
        throw fail(`migration ${m.name} was changed after it was applied; add a new numbered file instead`);
      }
      continue;
    }
    log(`applying ${m.name}`);
    try {
      await conn.query(m.sql);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw fail(`migration ${m.name} failed: ${detail} (see the comments at the top of the file)`, err);
    }
    await conn.execute('INSERT INTO schema_migrations (name, checksum) VALUES (?, ?)', [m.name, m.checksum]);
    applied.push(m.name);
  }
  return applied;
}

export async function migrate(opts: MigrateOptions): Promise<MigrateResult> {
  const log = opts.log ?? (() => {});
  const dir = opts.dir ?? SCHEMA_DIR;
  if (!Number.isInteger(opts.shards) || opts.shards < 1 || opts.shards > MAX_SHARDS) {
    throw new ImError(ErrorCode.BAD_CONFIG, `shards must be an integer between 1 and ${MAX_SHARDS}`);
  }
  const fromEnv = parseShardMap(opts.url, opts.shards, opts.shardMap ?? '');
  const migrations = await loadMigrations(dir);
  const { database } = splitMysqlUrl(opts.url);
  let map = fromEnv;
  const result = await onLockedDatabase(opts.url, async (conn) => {
    const applied = await applyMigrations(conn, migrations, log);
    map = await placementInForce(conn, fromEnv, (opts.shardMap ?? '').trim() !== '', log);
    const shardTablesCreated = await ensureHostShards(conn, database, dir, opts.shards, hostsOf(map)[0]!.shards, log);
    log(`${database}: ${applied.length} migration(s) applied, ${shardTablesCreated.length} shard table(s) created`);
    return { database, applied, shardTablesCreated };
  });
  const [, ...others] = hostsOf(map);
  const shardHosts: ShardHostResult[] = [];
  for (const host of others) {
    const hostDb = splitMysqlUrl(host.url).database;
    const tablesCreated = await onLockedDatabase(host.url, (conn) => ensureHostShards(conn, hostDb, dir, opts.shards, host.shards, log));
    const where = redactUrl(host.url);
    log(`${where}: shards ${formatRanges(host.shards)}, ${tablesCreated.length} shard table(s) created`);
    shardHosts.push({ url: where, shards: host.shards, tablesCreated });
  }
  return { ...result, shardHosts };
}

/**
 * Where the shards are: the stored shard map once db-proxy seeded one
 * (`npm run shards` changes it; SHARD_MAP then only seeds), else `fromEnv`.
 * A SHARDS other than the stored map's count is refused.
 */
async function placementInForce(conn: Connection, fromEnv: ShardMap, envHasMap: boolean, log: (m: string) => void): Promise<ShardMap> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT version, shards, servers FROM shard_map ORDER BY version DESC LIMIT 1');
  const row = rows[0];
  if (!row) return fromEnv;
  const stored = parseShardMap(fromEnv.mainUrl, Number(row.shards), String(row.servers), Number(row.version));
  if (stored.shards !== fromEnv.shards) {
    throw new ImError(ErrorCode.BAD_CONFIG, `SHARDS=${fromEnv.shards}, but the shard map in force (version ${stored.version}) has ${stored.shards} shards: run with SHARDS=${stored.shards}`);
  }
  if (envHasMap && !samePlacement(stored, fromEnv)) log(`warning: SHARD_MAP differs from the shard map in force (version ${stored.version}); using the stored map`);
  return stored;
}

/** The shard tables of both templates that one server holds, and the count recorded there. */
async function ensureHostShards(
  conn: Connection,
  database: string,
  dir: string,
  shards: number,
  indexes: readonly number[],
  log: (m: string) => void,
): Promise<string[]> {
  const created: string[] = [];
  for (const template of SHARD_TEMPLATES) {
    created.push(...(await ensureShards(conn, { database, dir, template, shards, indexes, log })));
  }
  return created;
}

/**
 * Makes one server ready to hold shards `indexes` of `shards`: its database
 * (created if missing), bookkeeping, the shard tables, the count recorded.
 * Returns the tables created.
 */
export async function prepareShardHost(url: string, shards: number, indexes: readonly number[], dir = SCHEMA_DIR): Promise<string[]> {
  const { database } = splitMysqlUrl(url);
  return onLockedDatabase(url, (conn) => ensureHostShards(conn, database, dir, shards, indexes, () => undefined));
}

/**
 * Runs `fn` on the database of `url` (created if missing), its bookkeeping
 * tables in place, holding the database's migration lock.
 */
export async function onLockedDatabase<T>(url: string, fn: (conn: Connection) => Promise<T>): Promise<T> {
  const { serverUrl, database } = splitMysqlUrl(url);
  let conn: Connection;
  try {
    conn = await mysql.createConnection({ uri: serverUrl, multipleStatements: true, charset: 'utf8mb4' });
  } catch (err) {
    throw new ImError(ErrorCode.STORAGE, `cannot connect to MySQL at ${redactUrl(serverUrl)}: ${(err as Error).message}`, { cause: err });
  }
  const lockName = `tt_migrate_${database}`;
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await conn.query(`USE \`${database}\``);
    const [[lock]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS ok', [lockName]);
    if (lock?.ok !== 1) throw fail(`another migration of ${database} holds the lock; gave up after 60 s`);
    try {
      await ensureBookkeeping(conn);
      return await fn(conn);
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [lockName]).catch(() => {});
    }
  } finally {
    await conn.end().catch(() => {});
  }
}
