import { groupKeys } from './handlers/group-members.ts';
import { ReadType } from './handlers/session-read.ts';
import type { HandlerContext } from './handlers/types.ts';
import { groupRebuildMarkKey, REBUILD_MARK_TTL_MS, withUnreadScripts } from './handlers/unread-counters.ts';
import { byShard, lostCounterSeeds, results, settle, type RebuildOptions, type RebuildResult } from './rebuild-batch.ts';

interface Group {
  id: number;
  members: number[];
}

/**
 * Group counters, TeamTalk's scheme: `{groupId}_im_group_msg` count = the
 * group's stored messages, `{uid}_{groupId}_im_user_group` count = the
 * messages each member has read, i.e. those up to the member's position:
 * the later of IMSessionRead (read acks, joining) and the member's own last
 * message there (a sender has read the group up to its message). Live
 * groups in batches by id, while traffic goes on, as one-to-one counters
 * are (rebuild-singles.ts): mark each group with the bound B = its msg id
 * counter; wait `settleMs`; count in MySQL up to B (members read again, so
 * that joins meanwhile are in); then one script per group writes the total
 * (count + messages above B the mark recorded) and each member's read
 * count. A member whose read count was set after the mark (its own message
 * above B, a read ack, a join) keeps its unread count as Redis holds it.
 */
export async function rebuildGroups(ctx: HandlerContext, opts: RebuildOptions): Promise<RebuildResult> {
  let cursor = 0;
  const out: RebuildResult = { done: 0, left: 0 };
  const redis = withUnreadScripts(ctx.redis);
  for (;;) {
    const ids = await ctx.mysql.query<{ id: number }[]>(
      ctx.mysql.main,
      'SELECT id FROM IMGroup WHERE id > ? AND status = 0 ORDER BY id LIMIT ?',
      [cursor, opts.batch],
    );
    if (ids.length === 0) return out;
    cursor = ids[ids.length - 1]!.id;
    const seeds = await lostCounterSeeds(ctx, ids, 'group');
    const mark = redis.pipeline() as unknown as ReturnType<typeof withUnreadScripts>;
    for (const { id } of ids) void mark.groupRebuildMark(`group_msg_id_${id}`, groupRebuildMarkKey(id), REBUILD_MARK_TTL_MS, seeds.get(id) ?? 0);
    const bounds = results(await (mark as unknown as ReturnType<typeof redis.pipeline>).exec()).map(String);
    await settle(opts.settleMs);
    const groups = await withMembers(ctx, ids.map((r) => r.id));
    const counted = await counts(ctx, groups, bounds.map(Number));
    const finish = redis.pipeline() as unknown as ReturnType<typeof withUnreadScripts>;
    groups.forEach((g, i) => {
      const [total, unread] = counted[i]!;
      void finish.groupRebuildFinish(
        2 + g.members.length,
        groupKeys.total(g.id),
        groupRebuildMarkKey(g.id),
        ...g.members.map((u) => groupKeys.read(u, g.id)),
        bounds[i]!,
        total,
        ...g.members,
        ...unread,
      );
    });
    const written = results(await (finish as unknown as ReturnType<typeof redis.pipeline>).exec());
    const left = written.filter((v) => Number(v) !== 1).length;
    if (left > 0) ctx.log.warn({ left }, 'group counters not written: their marks were replaced (another rebuild)');
    out.left += left;
    out.done += groups.length - left;
    await opts.onBatch?.();
  }
}

async function withMembers(ctx: HandlerContext, ids: readonly number[]): Promise<Group[]> {
  const rows = await ctx.mysql.query<{ groupId: number; userId: number }[]>(
    ctx.mysql.main,
    `SELECT DISTINCT groupId, userId FROM IMGroupMember WHERE status = 0 AND groupId IN (${ids.map(() => '?').join(', ')}) ORDER BY groupId, userId`,
    [...ids],
  );
  const by = new Map<number, number[]>(ids.map((id) => [id, []]));
  for (const r of rows) by.get(r.groupId)?.push(r.userId);
  return [...by].map(([id, members]) => ({ id, members }));
}

/** Per group: [stored messages up to its bound, each member's unread messages up to it]. */
async function counts(ctx: HandlerContext, groups: readonly Group[], bounds: readonly number[]): Promise<[number, number[]][]> {
  const bound = new Map(groups.map((g, i) => [g.id, bounds[i]!]));
  const pairs = groups.flatMap((g) => g.members.map((u) => [g.id, u] as const));
  const pos = new Map<string, number>();
  if (pairs.length > 0) {
    const rows = await ctx.mysql.query<{ userId: number; peerId: number; msgId: number }[]>(
      ctx.mysql.main,
      `SELECT userId, peerId, msgId FROM IMSessionRead WHERE type = ? AND (peerId, userId) IN (${pairs.map(() => '(?, ?)').join(', ')})`,
      [ReadType.GROUP, ...pairs.flat()],
    );
    for (const r of rows) pos.set(`${r.peerId}:${r.userId}`, Number(r.msgId));
  }
  const totals = new Map<number, number>();
  const unread = new Map<string, number>();
  await Promise.all(
    [...byShard(ctx, groups)].map(async ([shard, list]) => {
      const pool = ctx.mysql.shard(shard);
      const table = `IMGroupMessage_${shard}`;
      const t = await ctx.mysql.query<{ groupId: number; n: number }[]>(
        pool,
        `SELECT groupId, COUNT(*) AS n FROM ${table} WHERE ${list.map(() => '(groupId = ? AND msgId <= ?)').join(' OR ')} GROUP BY groupId`,
        list.flatMap((g) => [g.id, bound.get(g.id)!]),
      );
      for (const r of t) totals.set(r.groupId, Number(r.n));
      const mine = list.flatMap((g) => g.members.map((u) => [g.id, u, pos.get(`${g.id}:${u}`) ?? 0, bound.get(g.id)!] as const));
      if (mine.length === 0) return;
      // Own messages above the recorded position (up to the bound) move it further.
      const derived = mine.map(() => 'SELECT ? AS g, ? AS u, ? AS p, ? AS b').join(' UNION ALL ');
      const own = await ctx.mysql.query<{ g: number; u: number; m: number }[]>(
        pool,
        `SELECT t.g, t.u, MAX(m.msgId) AS m FROM (${derived}) t
          JOIN ${table} m ON m.groupId = t.g AND m.msgId > t.p AND m.msgId <= t.b AND m.userId = t.u GROUP BY t.g, t.u`,
        mine.flat(),
      );
      const at = new Map(mine.map(([g, u, p]) => [`${g}:${u}`, p]));
      for (const r of own) at.set(`${r.g}:${r.u}`, Math.max(at.get(`${r.g}:${r.u}`) ?? 0, Number(r.m)));
      const finalPos = mine.map(([g, u, , b]) => [g, u, at.get(`${g}:${u}`) ?? 0, b] as const);
      const after = await ctx.mysql.query<{ g: number; u: number; n: number }[]>(
        pool,
        `SELECT t.g, t.u, COUNT(*) AS n FROM (${derived}) t
          JOIN ${table} m ON m.groupId = t.g AND m.msgId > t.p AND m.msgId <= t.b GROUP BY t.g, t.u`,
        finalPos.flat(),
      );
      for (const r of after) unread.set(`${r.g}:${r.u}`, Number(r.n));
    }),
  );
  return groups.map((g) => [totals.get(g.id) ?? 0, g.members.map((u) => unread.get(`${g.id}:${u}`) ?? 0)]);
}
