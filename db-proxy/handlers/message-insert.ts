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

/** stored: committed (answer its msg id); refused: known not stored; unknown: not known yet. */
export type Outcome = 'stored' | 'refused' | 'unknown';

/** One transaction, one round trip: START TRANSACTION; INSERT ...; ...; COMMIT. */
export async function insertTransaction(ctx: HandlerContext, pool: Pool, lists: readonly (readonly Row[])[]): Promise<void> {
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
