import type { Pool } from 'mysql2/promise';
import type { HandlerContext } from './types.ts';

/** One message ready to store. */
export interface Row {
  /** Position of the request in its batch. */
  index: number;
  group: boolean;
  /** relateId (single) or groupId (group). */
  convId: number;
  fromId: number;
  toId: number;
  msgId: number;
  type: number;
  content: Buffer;
  created: number;
}

/**
 * Stores rows with one multi-row INSERT per shard table, all tables of one
 * MySQL server in one transaction sent as one round trip (one commit, one log
 * flush per server per batch). If that transaction fails, its rows are
 * retried one by one, so one bad row costs only itself. Returns the indexes of
 * the rows that are committed.
 */
export async function insertRows(ctx: HandlerContext, rows: readonly Row[]): Promise<Set<number>> {
  const byServer = new Map<Pool, Map<string, Row[]>>();
  for (const r of rows) {
    const shard = r.convId % ctx.shards;
    const pool = ctx.mysql.shard(shard);
    let tables = byServer.get(pool);
    if (!tables) byServer.set(pool, (tables = new Map()));
    const key = `${r.group ? 'g' : 's'}${shard}`;
    let list = tables.get(key);
    if (!list) tables.set(key, (list = []));
    list.push(r);
  }
  const stored = new Set<number>();
  await Promise.all(
    [...byServer].map(async ([pool, tables]) => {
      const lists = [...tables.values()];
      try {
        await insertTransaction(ctx, pool, lists);
        for (const list of lists) for (const r of list) stored.add(r.index);
      } catch (err) {
        ctx.log.warn({ err, rows: lists.reduce((n, l) => n + l.length, 0) }, 'batch insert failed; retrying row by row');
        for (const r of lists.flat()) {
          try {
            await insertTransaction(ctx, pool, [[r]]);
            stored.add(r.index);
          } catch (e) {
            ctx.log.warn({ err: e, convId: r.convId, msgId: r.msgId }, 'message not stored');
          }
        }
      }
    }),
  );
  return stored;
}

/** One transaction, one round trip: START TRANSACTION; INSERT ...; ...; COMMIT. */
async function insertTransaction(ctx: HandlerContext, pool: Pool, lists: readonly (readonly Row[])[]): Promise<void> {
  const parts = lists.map((list) => insertStatement(ctx.shards, list));
  const sql = `START TRANSACTION; ${parts.map((p) => p.sql).join('; ')}; COMMIT`;
  // On failure the connection (and its open transaction) is destroyed, which rolls it back.
  await ctx.mysql.withConnection(pool, (conn) => ctx.mysql.queryOn(conn, sql, parts.flatMap((p) => p.values)));
}

function insertStatement(shards: number, rows: readonly Row[]): { sql: string; values: unknown[] } {
  const first = rows[0]!;
  const shard = first.convId % shards;
  if (first.group) {
    return {
      sql: `INSERT INTO IMGroupMessage_${shard} (groupId, userId, msgId, content, type, status, updated, created) VALUES ${rows
        .map(() => '(?, ?, ?, ?, ?, 0, ?, ?)')
        .join(', ')}`,
      values: rows.flatMap((r) => [r.convId, r.fromId, r.msgId, r.content, r.type, r.created, r.created]),
    };
  }
  return {
    sql: `INSERT INTO IMMessage_${shard} (relateId, fromId, toId, msgId, content, status, type, created, updated) VALUES ${rows
      .map(() => '(?, ?, ?, ?, ?, 0, ?, ?, ?)')
      .join(', ')}`,
    values: rows.flatMap((r) => [r.convId, r.fromId, r.toId, r.msgId, r.content, r.type, r.created, r.created]),
  };
}
