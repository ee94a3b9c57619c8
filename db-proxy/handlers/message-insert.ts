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
 * Stores rows with one multi-row INSERT per shard table (autocommit: one
 * transaction each, tables in parallel). A table whose batch fails is retried
 * row by row, so one bad row costs only itself. Returns the indexes of the
 * rows that are committed.
 */
export async function insertRows(ctx: HandlerContext, rows: readonly Row[]): Promise<Set<number>> {
  const byTable = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.group ? 'g' : 's'}${r.convId % ctx.shards}`;
    let list = byTable.get(key);
    if (!list) byTable.set(key, (list = []));
    list.push(r);
  }
  const stored = new Set<number>();
  await Promise.all(
    [...byTable.values()].map(async (list) => {
      try {
        await insert(ctx, list);
        for (const r of list) stored.add(r.index);
      } catch (err) {
        ctx.log.warn({ err, rows: list.length }, 'batch insert failed; retrying row by row');
        for (const r of list) {
          try {
            await insert(ctx, [r]);
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

async function insert(ctx: HandlerContext, rows: readonly Row[]): Promise<void> {
  const first = rows[0]!;
  const shard = first.convId % ctx.shards;
  const pool = ctx.mysql.shard(shard);
  if (first.group) {
    await ctx.mysql.query(
      pool,
      `INSERT INTO IMGroupMessage_${shard} (groupId, userId, msgId, content, type, status, updated, created) VALUES ${rows
        .map(() => '(?, ?, ?, ?, ?, 0, ?, ?)')
        .join(', ')}`,
      rows.flatMap((r) => [r.convId, r.fromId, r.msgId, r.content, r.type, r.created, r.created]),
    );
  } else {
    await ctx.mysql.query(
      pool,
      `INSERT INTO IMMessage_${shard} (relateId, fromId, toId, msgId, content, status, type, created, updated) VALUES ${rows
        .map(() => '(?, ?, ?, ?, ?, 0, ?, ?, ?)')
        .join(', ')}`,
      rows.flatMap((r) => [r.convId, r.fromId, r.toId, r.msgId, r.content, r.type, r.created, r.created]),
    );
  }
}
