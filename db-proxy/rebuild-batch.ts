import type { HandlerContext } from './handlers/types.ts';

export interface RebuildOptions {
  /** Relations or groups per batch. */
  batch: number;
  /** Wait between marking a batch and counting it in MySQL, so messages under way land first. */
  settleMs: number;
  /** Called after each batch (the caller extends its lock). */
  onBatch?: () => Promise<void>;
}

/** Conversations rebuilt, and those left (another rebuild took them over). */
export interface RebuildResult {
  done: number;
  left: number;
}

export function settle(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** Items by shard of their conversation id. */
export function byShard<T extends { id: number }>(ctx: HandlerContext, items: readonly T[]): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const it of items) {
    const s = it.id % ctx.shards;
    let l = out.get(s);
    if (!l) out.set(s, (l = []));
    l.push(it);
  }
  return out;
}

/** Values of a pipeline, throwing its first error. */
export function results(res: [Error | null, unknown][] | null): unknown[] {
  return (res ?? []).map(([err, v]) => {
    if (err) throw err;
    return v;
  });
}

/**
 * Conversations whose msg id counter Redis lost: the largest msg id stored
 * (what the counter would be seeded with), by conversation id.
 */
export async function lostCounterSeeds<T extends { id: number }>(ctx: HandlerContext, items: readonly T[], kind: 'single' | 'group'): Promise<Map<number, number>> {
  const counterKey = (id: number): string => (kind === 'single' ? `msg_id_${id}` : `group_msg_id_${id}`);
  const values = items.length > 0 ? await ctx.redis.mget(items.map((it) => counterKey(it.id))) : [];
  const lost = items.filter((_, i) => values[i] === null);
  const out = new Map<number, number>();
  const [table, column] = kind === 'single' ? ['IMMessage', 'relateId'] : ['IMGroupMessage', 'groupId'];
  await Promise.all(
    [...byShard(ctx, lost)].map(async ([shard, list]) => {
      const rows = await ctx.mysql.query<{ id: number; m: number }[]>(
        ctx.mysql.shard(shard),
        `SELECT ${column} AS id, MAX(msgId) AS m FROM ${table}_${shard} WHERE ${column} IN (${list.map(() => '?').join(', ')}) GROUP BY ${column}`,
        list.map((it) => it.id),
      );
      for (const row of rows) out.set(Number(row.id), Number(row.m));
    }),
  );
  return out;
}
