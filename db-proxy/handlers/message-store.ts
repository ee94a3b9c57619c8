import type { Pool } from 'mysql2/promise';
import { outcomeCountersOf } from '../outcome-stats.ts';
import { remainingMs } from '../storage/deadline.ts';
import { classify } from '../storage/mysql-errors.ts';
import { insertTransaction, type Outcome, type Row } from './message-insert.ts';
import { confirmRow, readBack } from './message-readback.ts';
import type { HandlerContext } from './types.ts';

/**
 * Stores rows with one multi-row INSERT per shard table, all tables of one
 * MySQL server in one transaction sent as one round trip (one commit, one log
 * flush per server per batch). Returns each row's outcome, by row index.
 *
 * A transaction that failed is resolved before anyone is answered. When its
 * failure is ambiguous (no answer, connection lost: the server may have run
 * the COMMIT), its rows are read back by (relateId, msgId) / (groupId,
 * msgId): one of them found with our fromId and content means the whole
 * transaction committed. Otherwise each row is retried on its own
 * (confirmRow), so one bad row costs only itself and a commit that did land
 * is recognised by the unique key.
 */
export async function insertRows(ctx: HandlerContext, rows: readonly Row[]): Promise<Map<number, Outcome>> {
  if (rows.length === 0) return new Map();
  const shards = [...new Set(rows.map((r) => r.convId % ctx.shards))];
  // Held while a shard map change freezes one of these shards (or the map cannot be read).
  let leave: () => void;
  try {
    leave = await ctx.fence.enter(shards, remainingMs(FENCE_WAIT_MS));
  } catch (err) {
    return notWritten(ctx, rows, err);
  }
  try {
    // The map may have changed while we waited; a split changes the shards themselves.
    try {
      await ctx.syncMap();
    } catch (err) {
      return notWritten(ctx, rows, err);
    }
    if (rows.some((r) => !shards.includes(r.convId % ctx.shards))) {
      leave();
      return await insertRows(ctx, rows);
    }
    return await insertPlaced(ctx, rows);
  } finally {
    leave();
  }
}

/** Nothing was sent to MySQL: every row is known not stored (its unread counts are taken back by the caller). */
function notWritten(ctx: HandlerContext, rows: readonly Row[], err: unknown): Map<number, Outcome> {
  ctx.log.warn({ err, rows: rows.length }, 'messages not written: their shards are frozen or the shard map is unreadable');
  return new Map(rows.map((r) => [r.index, 'refused' as const]));
}

/** The longest a write waits for a shard map freeze outside a batch (inside one, the batch deadline cuts it). */
const FENCE_WAIT_MS = 5000;

async function insertPlaced(ctx: HandlerContext, rows: readonly Row[]): Promise<Map<number, Outcome>> {
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
  const out = new Map<number, Outcome>();
  await Promise.all(
    [...byServer].map(async ([pool, tables]) => {
      const lists = [...tables.values()];
      const all = lists.flat();
      try {
        await insertTransaction(ctx, pool, lists);
        for (const r of all) out.set(r.index, 'stored');
        return;
      } catch (err) {
        const doubt = classify(err) === 'unknown';
        ctx.log.warn({ err, rows: all.length, doubt }, 'batch insert failed; resolving row by row');
        const stats = outcomeCountersOf(ctx.mysql);
        if (doubt && (await committed(ctx, pool, all))) {
          for (const r of all) out.set(r.index, 'stored');
          stats.add('storedAfterDoubt', all.length);
          return;
        }
        const outcomes = await Promise.all(all.map((r) => confirmRow(ctx, pool, r, doubt)));
        all.forEach((r, i) => out.set(r.index, outcomes[i]!));
        if (doubt) stats.add('storedAfterDoubt', outcomes.filter((o) => o === 'stored').length);
      }
    }),
  );
  return out;
}

/** Whether a transaction of `rows` is found committed (any one of them stored as ours); false when unreadable. */
async function committed(ctx: HandlerContext, pool: Pool, rows: readonly Row[]): Promise<boolean> {
  try {
    const found = await readBack(ctx, pool, rows);
    return [...found.values()].includes('ours');
  } catch {
    return false;
  }
}
