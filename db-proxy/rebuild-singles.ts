import type { HandlerContext } from './handlers/types.ts';
import { ReadType } from './handlers/session-read.ts';
import { casAll, type RebuildOptions, type RebuildResult } from './rebuild-cas.ts';

interface Relation {
  id: number;
  smallId: number;
  bigId: number;
}

/**
 * One-to-one counters, TeamTalk's `unread_{uid}` field `{peerId}`, rebuilt
 * for every relation, in batches of `batch` relations by id. Each batch
 * reads what Redis holds now (the relation's msg id counter and both
 * fields), waits `settleMs` so sends and read acks already under way finish,
 * counts in MySQL (messages to the user with msgId above the user's read
 * position in IMSessionRead), and writes the counts only where the counter
 * and the fields are still what was read; the others are tried again.
 */
export async function rebuildSingles(ctx: HandlerContext, opts: RebuildOptions): Promise<RebuildResult> {
  let cursor = 0;
  const out: RebuildResult = { done: 0, left: 0 };
  for (;;) {
    const rels = await ctx.mysql.query<Relation[]>(
      ctx.mysql.main,
      'SELECT id, smallId, bigId FROM IMRelationShip WHERE id > ? ORDER BY id LIMIT ?',
      [cursor, opts.batch],
    );
    if (rels.length === 0) return out;
    cursor = rels[rels.length - 1]!.id;
    out.left += await casAll(ctx, opts, rels, {
      keys: (r) => [`msg_id_${r.id}`, `unread_${r.smallId}`, `unread_${r.bigId}`],
      fields: (r) => ['', String(r.bigId), String(r.smallId)],
      compute: (list) => counts(ctx, list),
    });
    out.done += rels.length;
    await opts.onBatch?.();
  }
}

/** Per relation: [unread of smallId from bigId, unread of bigId from smallId]. */
async function counts(ctx: HandlerContext, rels: readonly Relation[]): Promise<number[][]> {
  const pos = await positions(ctx, rels);
  const byShard = new Map<number, Relation[]>();
  for (const r of rels) {
    const s = r.id % ctx.shards;
    let l = byShard.get(s);
    if (!l) byShard.set(s, (l = []));
    l.push(r);
  }
  const n = new Map<string, number>();
  await Promise.all(
    [...byShard].map(async ([shard, list]) => {
      const conds: string[] = [];
      const values: number[] = [];
      for (const r of list) {
        for (const [u, p] of [[r.smallId, r.bigId], [r.bigId, r.smallId]] as const) {
          conds.push('(relateId = ? AND toId = ? AND msgId > ?)');
          values.push(r.id, u, pos.get(`${u}:${p}`) ?? 0);
        }
      }
      const rows = await ctx.mysql.query<{ relateId: number; toId: number; n: number }[]>(
        ctx.mysql.shard(shard),
        `SELECT relateId, toId, COUNT(*) AS n FROM IMMessage_${shard} WHERE ${conds.join(' OR ')} GROUP BY relateId, toId`,
        values,
      );
      for (const row of rows) n.set(`${row.relateId}:${row.toId}`, Number(row.n));
    }),
  );
  return rels.map((r) => [0, n.get(`${r.id}:${r.smallId}`) ?? 0, n.get(`${r.id}:${r.bigId}`) ?? 0]);
}

/** `${userId}:${peerId}` → read position of the one-to-one session. */
async function positions(ctx: HandlerContext, rels: readonly Relation[]): Promise<Map<string, number>> {
  const pairs = rels.flatMap((r) => [[r.smallId, r.bigId], [r.bigId, r.smallId]]);
  const rows = await ctx.mysql.query<{ userId: number; peerId: number; msgId: number }[]>(
    ctx.mysql.main,
    `SELECT userId, peerId, msgId FROM IMSessionRead WHERE type = ? AND (userId, peerId) IN (${pairs.map(() => '(?, ?)').join(', ')})`,
    [ReadType.SINGLE, ...pairs.flat()],
  );
  return new Map(rows.map((r) => [`${r.userId}:${r.peerId}`, Number(r.msgId)]));
}
