import type { HandlerContext } from './handlers/types.ts';
import { ReadType } from './handlers/session-read.ts';
import { rebuildMarkKey, REBUILD_MARK_TTL_MS, withUnreadScripts } from './handlers/unread-counters.ts';
import { byShard, lostCounterSeeds, results, settle, type RebuildOptions, type RebuildResult } from './rebuild-batch.ts';

interface Relation {
  id: number;
  smallId: number;
  bigId: number;
}

/**
 * One-to-one counters, TeamTalk's `unread_{uid}` field `{peerId}`, rebuilt
 * for every relation, in batches of `batch` relations by id, while traffic
 * goes on. Per batch:
 * 1. mark both directions of each relation with the bound B = its msg id
 *    counter now (or, when Redis lost the counter, the largest msg id
 *    stored); from then on, messages with ids above B that are counted or
 *    taken back are also recorded in the mark (the id allocation tells
 *    every db-proxy that a rebuild is under way, unread-counters.ts);
 * 2. wait `settleMs`, so that messages with ids up to B still under way
 *    are committed or refused;
 * 3. count in MySQL the messages to each user with read position < msgId <= B
 *    (position: IMSessionRead);
 * 4. write count + what the mark recorded, in one script that also removes
 *    the mark. A read ack (or a removed session) meanwhile deletes the
 *    mark: the counter it left stays.
 * A message with an id up to B that takes longer than `settleMs` to commit
 * may go uncounted: keep `settleMs` above `DB_PROXY_FAIL_FAST_MS`.
 */
export async function rebuildSingles(ctx: HandlerContext, opts: RebuildOptions): Promise<RebuildResult> {
  let cursor = 0;
  const out: RebuildResult = { done: 0, left: 0 };
  const redis = withUnreadScripts(ctx.redis);
  for (;;) {
    const rels = await ctx.mysql.query<Relation[]>(
      ctx.mysql.main,
      'SELECT id, smallId, bigId FROM IMRelationShip WHERE id > ? ORDER BY id LIMIT ?',
      [cursor, opts.batch],
    );
    if (rels.length === 0) return out;
    cursor = rels[rels.length - 1]!.id;
    const seeds = await lostCounterSeeds(ctx, rels, 'single');
    const mark = redis.pipeline() as unknown as ReturnType<typeof withUnreadScripts>;
    for (const r of rels) {
      void mark.rebuildMark(`msg_id_${r.id}`, rebuildMarkKey(r.smallId), rebuildMarkKey(r.bigId), r.bigId, r.smallId, REBUILD_MARK_TTL_MS, seeds.get(r.id) ?? 0);
    }
    const bounds = results(await (mark as unknown as ReturnType<typeof redis.pipeline>).exec()).map(String);
    await settle(opts.settleMs);
    const counted = await counts(ctx, rels, bounds.map(Number));
    const finish = redis.pipeline() as unknown as ReturnType<typeof withUnreadScripts>;
    rels.forEach((r, i) => {
      void finish.rebuildFinish(`unread_${r.smallId}`, rebuildMarkKey(r.smallId), r.bigId, bounds[i]!, counted[i]![0]);
      void finish.rebuildFinish(`unread_${r.bigId}`, rebuildMarkKey(r.bigId), r.smallId, bounds[i]!, counted[i]![1]);
    });
    results(await (finish as unknown as ReturnType<typeof redis.pipeline>).exec());
    out.done += rels.length;
    await opts.onBatch?.();
  }
}

/** Per relation: [unread of smallId from bigId, unread of bigId from smallId], messages up to the relation's bound. */
async function counts(ctx: HandlerContext, rels: readonly Relation[], bounds: readonly number[]): Promise<[number, number][]> {
  const pos = await positions(ctx, rels);
  const bound = new Map(rels.map((r, i) => [r.id, bounds[i]!]));
  const n = new Map<string, number>();
  await Promise.all(
    [...byShard(ctx, rels)].map(async ([shard, list]) => {
      const conds: string[] = [];
      const values: number[] = [];
      for (const r of list) {
        for (const [u, p] of [[r.smallId, r.bigId], [r.bigId, r.smallId]] as const) {
          conds.push('(relateId = ? AND toId = ? AND msgId > ? AND msgId <= ?)');
          values.push(r.id, u, pos.get(`${u}:${p}`) ?? 0, bound.get(r.id)!);
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
  return rels.map((r) => [n.get(`${r.id}:${r.smallId}`) ?? 0, n.get(`${r.id}:${r.bigId}`) ?? 0]);
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
