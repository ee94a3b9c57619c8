/**
 * The start-up check of the shard layout: the servers of the shard map must
 * hold the tables the map gives them, created for the same shard count.
 * A db-proxy started with another SHARDS than the database was migrated
 * with would put rows in the wrong IMMessage_N tables, read history from
 * the wrong ones and re-seed msg ids from them (ids could repeat); one whose
 * SHARD_MAP names a server without the tables would fail every message of
 * those shards. Either refuses to start, naming the setting.
 */
import mysql from 'mysql2/promise';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { ErrorCode, ImError } from '../../common/errors.ts';
import { SHARD_TEMPLATES } from '../../schema/shards.ts';
import { formatRanges, hostsOf, redactUrl, type ShardHost, type ShardMap } from './shard-map.ts';

/** What one server of the map holds, as read off it. */
interface HostLayout {
  /** schema_shards per template; null where the table itself is missing. */
  recorded: Map<string, number> | null;
  /** Shard tables present, by name. */
  tables: Set<string>;
}

async function readLayout(conn: Connection): Promise<HostLayout> {
  const [tables] = await conn.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()',
  );
  const names = new Set(tables.map((r) => String(r.name)));
  if (!names.has('schema_shards')) return { recorded: null, tables: names };
  const [rows] = await conn.query<RowDataPacket[]>('SELECT template, shards FROM schema_shards');
  return { recorded: new Map(rows.map((r) => [String(r.template), Number(r.shards)])), tables: names };
}

/** What is wrong with one server of the map; empty when nothing is. */
function layoutProblems(map: ShardMap, host: ShardHost, layout: HostLayout, isMain: boolean): string[] {
  const where = isMain ? `MYSQL_URL (${redactUrl(host.url)})` : `${redactUrl(host.url)} (SHARD_MAP, shards ${formatRanges(host.shards)})`;
  if (layout.recorded === null) {
    return [`${where} has no schema_shards table: it was never migrated; run \`npm run migrate\` with the same SHARDS and SHARD_MAP`];
  }
  const problems: string[] = [];
  const counts = SHARD_TEMPLATES.map(({ prefix }) => ({ prefix, n: layout.recorded!.get(prefix) }));
  const other = counts.filter((c) => c.n !== undefined && c.n !== map.shards);
  const same = other.length === counts.length && other.every((c) => c.n === other[0]!.n);
  const recount = (n: number, what: string): string =>
    `SHARDS=${map.shards}, but ${where} was migrated with ${n} ${what} (schema_shards): ` +
    `start with SHARDS=${n} (rows are placed by id % SHARDS: the count cannot change in place)`;
  if (same) problems.push(recount(other[0]!.n!, 'shards'));
  else for (const c of other) problems.push(recount(c.n!, `${c.prefix} shards`));
  for (const { prefix, n } of counts) {
    if (n === undefined) {
      if (isMain || host.shards.length > 0) problems.push(`${where} records no shard count for ${prefix}: run \`npm run migrate\``);
      continue;
    }
    const missing = host.shards.filter((k) => !layout.tables.has(`${prefix}_${k}`));
    if (missing.length > 0 && n === map.shards) {
      const hint = isMain ? 'if SHARD_MAP put them on another server, start with that SHARD_MAP; otherwise run `npm run migrate`' : 'run `npm run migrate` with the same SHARDS and SHARD_MAP';
      problems.push(`${where} lacks ${prefix}_{${formatRanges(missing)}}: ${hint}`);
    }
  }
  return problems;
}

/**
 * Checks every server of `map`; throws IM_ERR_BAD_CONFIG listing every
 * problem found, or IM_ERR_STORAGE when a server cannot be reached.
 */
export async function checkShardLayout(map: ShardMap, opts: { connectTimeoutMs: number }): Promise<void> {
  const hosts = hostsOf(map);
  const problems: string[] = [];
  for (const [i, host] of hosts.entries()) {
    let conn: Connection;
    try {
      conn = await mysql.createConnection({ uri: host.url, connectTimeout: opts.connectTimeoutMs });
    } catch (err) {
      const what = i === 0 ? 'MYSQL_URL' : `SHARD_MAP's server for shards ${formatRanges(host.shards)}`;
      throw new ImError(ErrorCode.STORAGE, `cannot reach ${what} at ${redactUrl(host.url)}: ${(err as Error).message}`, { cause: err });
    }
    try {
      problems.push(...layoutProblems(map, host, await readLayout(conn), i === 0));
    } finally {
      await conn.end().catch(() => undefined);
    }
  }
  if (problems.length > 0) throw new ImError(ErrorCode.BAD_CONFIG, `shard layout: ${problems.join('; ')}`);
}
