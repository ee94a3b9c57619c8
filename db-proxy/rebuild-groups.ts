import { groupKeys } from './handlers/group-members.ts';
import { ReadType } from './handlers/session-read.ts';
import type { HandlerContext } from './handlers/types.ts';
import { casAll, type RebuildOptions, type RebuildResult } from './rebuild-cas.ts';

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
 * groups in batches by id; the same read-settle-count-compare-and-set as
 * one-to-one counters (rebuild-cas.ts).
 */
export async function rebuildGroups(ctx: HandlerContext, opts: RebuildOptions): Promise<RebuildResult> {
  let cursor = 0;
  const out: RebuildResult = { done: 0, left: 0 };
  for (;;) {
    const ids = await ctx.mysql.query<{ id: number }[]>(
      ctx.mysql.main,
      'SELECT id FROM IMGroup WHERE id > ? AND status = 0 ORDER BY id LIMIT ?',
      [cursor, opts.batch],
    );
    if (ids.length === 0) return out;
    cursor = ids[ids.length - 1]!.id;
    const groups = await withMembers(ctx, ids.map((r) => r.id));
    out.left += await casAll(ctx, opts, groups, {
      keys: (g) => [`group_msg_id_${g.id}`, groupKeys.total(g.id), ...g.members.map((u) => groupKeys.read(u, g.id))],
      fields: (g) => ['', 'count', ...g.members.map(() => 'count')],
      compute: (list) => counts(ctx, list),
    });
    out.done += groups.length;
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

/** Per group: [0, total, read count of each member]. */
async function counts(ctx: HandlerContext, groups: readonly Group[]): Promise<number[][]> {
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
  const byShard = new Map<number, Group[]>();
  for (const g of groups) {
    const s = g.id % ctx.shards;
    let l = byShard.get(s);
    if (!l) byShard.set(s, (l = []));
    l.push(g);
  }
  await Promise.all(
    [...byShard].map(async ([shard, list]) => {
      const pool = ctx.mysql.shard(shard);
      const table = `IMGroupMessage_${shard}`;
      const t = await ctx.mysql.query<{ groupId: number; n: number }[]>(
        pool,
        `SELECT groupId, COUNT(*) AS n FROM ${table} WHERE groupId IN (${list.map(() => '?').join(', ')}) GROUP BY groupId`,
        list.map((g) => g.id),
      );
      for (const r of t) totals.set(r.groupId, Number(r.n));
      const mine = list.flatMap((g) => g.members.map((u) => [g.id, u, pos.get(`${g.id}:${u}`) ?? 0] as const));
      if (mine.length === 0) return;
      // Own messages above the recorded position move it further.
      const derived = mine.map(() => 'SELECT ? AS g, ? AS u, ? AS p').join(' UNION ALL ');
      const own = await ctx.mysql.query<{ g: number; u: number; m: number }[]>(
        pool,
        `SELECT t.g, t.u, MAX(m.msgId) AS m FROM (${derived}) t
          JOIN ${table} m ON m.groupId = t.g AND m.msgId > t.p AND m.userId = t.u GROUP BY t.g, t.u`,
        mine.flat(),
      );
      const at = new Map(mine.map(([g, u, p]) => [`${g}:${u}`, p]));
      for (const r of own) at.set(`${r.g}:${r.u}`, Math.max(at.get(`${r.g}:${r.u}`) ?? 0, Number(r.m)));
      const finalPos = mine.map(([g, u]) => [g, u, at.get(`${g}:${u}`) ?? 0] as const);
      const after = await ctx.mysql.query<{ g: number; u: number; n: number }[]>(
        pool,
        `SELECT t.g, t.u, COUNT(*) AS n FROM (${derived}) t
          JOIN ${table} m ON m.groupId = t.g AND m.msgId > t.p GROUP BY t.g, t.u`,
        finalPos.flat(),
      );
      for (const r of after) unread.set(`${r.g}:${r.u}`, Number(r.n));
    }),
  );
  return groups.map((g) => {
    const total = totals.get(g.id) ?? 0;
    return [0, total, ...g.members.map((u) => total - (unread.get(`${g.id}:${u}`) ?? 0))];
  });
}
