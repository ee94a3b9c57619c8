import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { GROUP_LIVE, MEMBER_ACTIVE, groupKeys, placeholders } from './group-members.ts';
import { toBytes } from './message-history.ts';
import { convKey, latestMessages, type Conv } from './message-latest.ts';
import { pairKey } from './relations.ts';
import type { Handler, HandlerContext, Reply } from './types.ts';

type UnreadReq = IM.Message.IIMUnreadMsgCntReq;
type UnreadInfo = IM.BaseDefine.IUnreadInfo;

const AUDIO_TYPES = new Set([0x02, 0x12]);

/** One session with something unread. */
interface Pending {
  userId: number;
  kind: 1 | 2;
  sessionId: number;
  count: number;
  /** relateId (single) or groupId (group); 0 when the pair has no relation. */
  convId: number;
}

function answer(userId: number, list: UnreadInfo[]): Reply {
  const totalCnt = list.reduce((n, u) => n + (u.unreadCnt ?? 0), 0);
  return { commandId: Cid.CID_MSG_UNREAD_CNT_RESPONSE, message: { userId, totalCnt, unreadinfoList: list } };
}

/**
 * CID_MSG_UNREAD_CNT_REQUEST, batched. Per batch: a Redis pipeline for the
 * users' `unread_{uid}` hashes; one query on the main server for their
 * groups and the relateIds of their unread peers; a second pipeline for
 * group totals, members' read counts and the conversations' msg id
 * counters; and one query per message server for the latest messages.
 * Each session with something unread (1:1: the hash field; group: total
 * minus read) is listed with its latest visible message; the total is
 * their sum.
 */
export const unreadCount: Handler<UnreadReq> = {
  commandId: Cid.CID_MSG_UNREAD_CNT_REQUEST,
  fail: (req) => answer(req.userId ?? 0, []),
  async run(ctx, reqs) {
    const users = [...new Set(reqs.map((r) => r.userId).filter((u) => u > 0))];
    if (users.length === 0) return reqs.map((r) => answer(r.userId ?? 0, []));

    const hashes = await execAll(users.reduce((p, u) => p.hgetall(`unread_${u}`), ctx.redis.pipeline()));
    const pending: Pending[] = [];
    users.forEach((userId, i) => {
      for (const [peer, cnt] of Object.entries(hashes[i] as Record<string, string>)) {
        const sessionId = Number(peer);
        const count = Number(cnt);
        if (Number.isInteger(sessionId) && sessionId > 0 && count > 0) pending.push({ userId, kind: 1, sessionId, count, convId: 0 });
      }
    });
    const { groups, relations } = await groupsAndRelations(ctx, users, pending);
    for (const p of pending) p.convId = relations.get(pairKey(p.userId, p.sessionId)) ?? 0;

    const groupIds = [...new Set(groups.map((g) => g.groupId))];
    const singles = pending.filter((p) => p.convId > 0);
    const pipe = ctx.redis.pipeline();
    for (const g of groupIds) pipe.hget(groupKeys.total(g), 'count').get(`group_msg_id_${g}`);
    for (const m of groups) pipe.hget(groupKeys.read(m.userId, m.groupId), 'count');
    for (const p of singles) pipe.get(`msg_id_${p.convId}`);
    const values = await execAll(pipe);
    const total = new Map(groupIds.map((g, i) => [g, Number(values[2 * i] ?? 0)]));
    const hints = new Map(groupIds.map((g, i) => [convKey(2, g), Number(values[2 * i + 1] ?? 0)]));
    const offset = 2 * groupIds.length;
    groups.forEach((m, i) => {
      const count = (total.get(m.groupId) ?? 0) - Number(values[offset + i] ?? 0);
      if (count > 0) pending.push({ userId: m.userId, kind: 2, sessionId: m.groupId, count, convId: m.groupId });
    });
    singles.forEach((p, i) => hints.set(convKey(1, p.convId), Number(values[offset + groups.length + i] ?? 0)));

    const convs = new Map<string, Conv>();
    for (const p of pending) {
      const key = convKey(p.kind, p.convId);
      if (p.convId > 0 && !convs.has(key)) convs.set(key, { kind: p.kind, convId: p.convId, hint: hints.get(key) || 0 });
    }
    const latest = await latestMessages(ctx, [...convs.values()]);

    const byUser = new Map<number, UnreadInfo[]>(users.map((u) => [u, []]));
    for (const p of pending) {
      const last = latest.get(convKey(p.kind, p.convId));
      if (!last) continue; // counted, but nothing visible left to show: TeamTalk leaves such sessions out
      byUser.get(p.userId)!.push({
        sessionId: p.sessionId,
        sessionType: p.kind,
        unreadCnt: p.count,
        latestMsgId: last.msgId,
        // The preview of a voice message is left empty; the type tells the client what it is.
        latestMsgData: AUDIO_TYPES.has(last.type) ? Buffer.alloc(0) : toBytes(last.content),
        latestMsgType: last.type,
        latestMsgFromUserId: last.fromId,
      });
    }
    return reqs.map((r) => answer(r.userId ?? 0, byUser.get(r.userId) ?? []));
  },
};

/** Runs a pipeline; any failed command fails the batch. */
async function execAll(pipe: ReturnType<HandlerContext['redis']['pipeline']>): Promise<unknown[]> {
  const results = (await pipe.exec()) ?? [];
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
  return results.map(([, v]) => v);
}

/** relateId per pair never changes once made; a bounded per-worker cache saves lookups. */
const relationCache = new Map<string, number>();
const RELATION_CACHE_MAX = 200_000;

/**
 * The live groups of the users and the relateIds of the one-to-one sessions
 * (never creating a relation), in one query on the main server: the
 * relation part only for pairs not cached. STRAIGHT_JOIN: the optimizer
 * otherwise scans IMGroup and probes members group by group.
 */
async function groupsAndRelations(
  ctx: HandlerContext,
  users: readonly number[],
  singles: readonly Pending[],
): Promise<{ groups: { userId: number; groupId: number }[]; relations: Map<string, number> }> {
  const relations = new Map<string, number>();
  const missing = new Map<string, [number, number]>();
  for (const { userId: a, sessionId: b } of singles) {
    const key = pairKey(a, b);
    const hit = relationCache.get(key);
    if (hit !== undefined) relations.set(key, hit);
    else missing.set(key, a < b ? [a, b] : [b, a]);
  }
  const pairs = [...missing.values()];
  let sql = `SELECT 1 AS k, m.userId AS a, m.groupId AS b, 0 AS id FROM IMGroupMember m STRAIGHT_JOIN IMGroup g ON g.id = m.groupId
              WHERE m.userId IN (${placeholders(users.length)}) AND m.status = ? AND g.status = ?`;
  if (pairs.length > 0) {
    sql += ` UNION ALL SELECT 2, smallId, bigId, id FROM IMRelationShip WHERE (smallId, bigId) IN (${pairs.map(() => '(?, ?)').join(', ')})`;
  }
  const rows = await ctx.mysql.query<{ k: number; a: number; b: number; id: number }[]>(ctx.mysql.main, sql, [
    ...users,
    MEMBER_ACTIVE,
    GROUP_LIVE,
    ...pairs.flat(),
  ]);
  const groups = new Map<string, { userId: number; groupId: number }>();
  if (relationCache.size + pairs.length > RELATION_CACHE_MAX) relationCache.clear();
  for (const r of rows) {
    if (r.k === 1) groups.set(`${r.a}:${r.b}`, { userId: r.a, groupId: r.b });
    else {
      relationCache.set(pairKey(r.a, r.b), r.id);
      relations.set(pairKey(r.a, r.b), r.id);
    }
  }
  return { groups: [...groups.values()], relations };
}
