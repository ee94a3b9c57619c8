/**
 * Message shard tables: IMMessage_<relateId % shards> and
 * IMGroupMessage_<groupId % shards>, created from the templates in
 * schema/shards/ where {{N}} stands for the shard index.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { ErrorCode, ImError } from '../common/errors.ts';

export interface ShardTemplate {
  /** Table name prefix; shard i is `${prefix}_${i}`. */
  prefix: string;
  /** File under <schema dir>/shards/. */
  file: string;
  /** Unique key every shard must carry, added to older tables that lack it. */
  uniqueKey: { name: string; columns: readonly string[] };
}

export const SHARD_TEMPLATES: readonly ShardTemplate[] = [
  { prefix: 'IMMessage', file: 'IMMessage.sql', uniqueKey: { name: 'uk_relateId_msgId', columns: ['relateId', 'msgId'] } },
  { prefix: 'IMGroupMessage', file: 'IMGroupMessage.sql', uniqueKey: { name: 'uk_groupId_msgId', columns: ['groupId', 'msgId'] } },
];

const PLACEHOLDER = '{{N}}';

/** The shard table holding rows keyed by `key` (a relateId or a groupId). */
export function shardTable(prefix: string, key: number, shards: number): string {
  return `${prefix}_${key % shards}`;
}

function fail(message: string, cause?: unknown): ImError {
  return new ImError(ErrorCode.MIGRATION, message, cause === undefined ? undefined : { cause });
}

async function existingShardIndexes(conn: Connection, database: string, prefix: string): Promise<number[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?',
    [database, `${prefix}\\_%`],
  );
  const pattern = new RegExp(`^${prefix}_(\\d+)$`);
  return rows
    .map((r) => pattern.exec(String(r.name)))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

async function anyRows(conn: Connection, tables: string[]): Promise<string | undefined> {
  for (const table of tables) {
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM \`${table}\` LIMIT 1`);
    if (rows.length > 0) return table;
  }
  return undefined;
}

/**
 * Makes the shards of one template that this server holds (`indexes`,
 * default all of 0..shards-1) exist and carry the unique key, and records
 * the shard count. Changing the count is allowed only while every existing
 * shard table is empty: rows are placed by key % shards, and moving them is
 * not done here. Returns the names of the tables created.
 */
export async function ensureShards(
  conn: Connection,
  opts: { database: string; dir: string; template: ShardTemplate; shards: number; indexes?: readonly number[]; log: (msg: string) => void },
): Promise<string[]> {
  const { database, template, shards, log } = opts;
  const { prefix, uniqueKey } = template;
  const sql = await readFile(join(opts.dir, 'shards', template.file), 'utf8');
  if (!sql.includes(PLACEHOLDER)) throw fail(`shard template ${template.file} has no ${PLACEHOLDER} placeholder`);

  const existing = await existingShardIndexes(conn, database, prefix);
  const [recordedRows] = await conn.query<RowDataPacket[]>('SELECT shards FROM schema_shards WHERE template = ?', [prefix]);
  const recorded = recordedRows[0] === undefined ? undefined : Number(recordedRows[0].shards);
  const previous = recorded ?? (existing.length > 0 ? Math.max(...existing) + 1 : undefined);
  if (previous !== undefined && previous !== shards) {
    const nonEmpty = await anyRows(conn, existing.map((i) => `${prefix}_${i}`));
    if (nonEmpty !== undefined) {
      throw fail(
        `${prefix} has ${previous} shards and ${shards} were asked for, but ${nonEmpty} holds rows; ` +
          'rows are placed by key % shards, so changing the count needs a resharding this tool does not do',
      );
    }
    log(`${prefix}: shard count ${previous} -> ${shards} (all shard tables are empty)`);
  }

  const created: string[] = [];
  for (const i of opts.indexes ?? Array.from({ length: shards }, (_, k) => k)) {
    if (existing.includes(i)) continue;
    await conn.query(sql.replaceAll(PLACEHOLDER, String(i)));
    created.push(`${prefix}_${i}`);
  }

  const [withKey] = await conn.query<RowDataPacket[]>(
    'SELECT DISTINCT TABLE_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME = ?',
    [database, uniqueKey.name],
  );
  const hasKey = new Set(withKey.map((r) => String(r.name)));
  for (const i of existing.filter((n) => n < shards)) {
    const table = `${prefix}_${i}`;
    if (hasKey.has(table)) continue;
    log(`${table}: adding unique key ${uniqueKey.name}`);
    const cols = uniqueKey.columns.map((c) => `\`${c}\``).join(', ');
    try {
      await conn.query(`ALTER TABLE \`${table}\` ADD UNIQUE KEY \`${uniqueKey.name}\` (${cols})`);
    } catch (err) {
      throw fail(
        `${table}: cannot add unique key (${uniqueKey.columns.join(', ')}): ${(err as Error).message}; ` +
          `find the duplicates with SELECT ${cols}, COUNT(*) FROM \`${table}\` GROUP BY ${cols} HAVING COUNT(*) > 1`,
        err,
      );
    }
  }

  await conn.query('INSERT INTO schema_shards (template, shards) VALUES (?, ?) ON DUPLICATE KEY UPDATE shards = ?', [
    prefix,
    shards,
    shards,
  ]);
  return created;
}

/**
 * Creates shard `index` of `template` if it is missing, without recording a
 * shard count: the tables of a split exist before the count changes.
 */
export async function createShardTable(conn: Connection, dir: string, template: ShardTemplate, index: number): Promise<void> {
  const sql = await readFile(join(dir, 'shards', template.file), 'utf8');
  await conn.query(sql.replaceAll(PLACEHOLDER, String(index)));
}

/** Records the shard count of every template on one server. */
export async function recordShardCount(conn: Connection, shards: number): Promise<void> {
  for (const { prefix } of SHARD_TEMPLATES) {
    await conn.query('INSERT INTO schema_shards (template, shards) VALUES (?, ?) ON DUPLICATE KEY UPDATE shards = ?', [prefix, shards, shards]);
  }
}
