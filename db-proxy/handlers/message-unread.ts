import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { groupKeys } from './group-members.ts';
import { previewData } from './message-audio.ts';
import { convKey, latestMessages, type Conv, type Latest } from './message-latest.ts';
import { findRelationIds, pairKey } from './relations.ts';
import type { Handler } from './types.ts';
import { cachedGroups, loadGroups } from './user-groups.ts';
import { answer, GroupCounters, Reads, type Pending } from './unread-reads.ts';

type UnreadReq = IM.Message.IIMUnreadMsgCntReq;
type UnreadInfo = IM.BaseDefine.IUnreadInfo;

/**
 * CID_MSG_UNREAD_CNT_REQUEST, batched. Each session with something unread
 * (1:1: the field of `unread_{uid}`; group: `{gid}_im_group_msg` minus
 * `{uid}_{gid}_im_user_group`, for every live group the user is a member
 * of) is listed with its latest visible message; the total is their sum.
 *
 * In the steady state a batch is one Redis round trip: the users' unread
 * hashes, their group-list tokens, and the counters of the groups cached
 * for them (user-groups.ts). A second round trip reads the msg id
 * counters of unread one-to-one sessions and the counters of group lists
 * that had to be reloaded. MySQL is asked only for what no cache answers:
 * reloaded group lists, unknown relations, latest messages not cached at
 * the counter's msg id (message-latest.ts).
 */
export const unreadCount: Handler<UnreadReq> = {
  commandId: Cid.CID_MSG_UNREAD_CNT_REQUEST,
  fail: (req) => answer(req.userId ?? 0, []),
  async run(ctx, reqs) {
    const users = [...new Set(reqs.map((r) => r.userId).filter((u) => u > 0))];
    if (users.length === 0) return reqs.map((r) => answer(r.userId ?? 0, []));
    const now = Date.now();

    // Round trip 1.
    const reads = new Reads(ctx);
    const pending: Pending[] = [];
    for (const userId of users) reads.add((p) => p.hgetall(`unread_${userId}`), (hash) => addSingles(pending, userId, hash));
    let versions: (string | null)[] = [];
    const versionKeys = users.map(groupKeys.listVersion);
    // The list versions ride in the same pipeline unless they live on a Redis of their own (REDIS_URL_GROUP).
    const ownVersions = ctx.groups === ctx.redis ? null : ctx.groups.mget(versionKeys);
    if (!ownVersions) reads.add((p) => p.mget(versionKeys), (v) => (versions = v as (string | null)[]));
    const counters = new GroupCounters();
    const cached = users.map((u) => cachedGroups(ctx, u, now));
    cached.forEach((c, i) => c && counters.want(reads, users[i]!, c.groups));
    const [, own] = await Promise.all([reads.run(), ownVersions]);
    if (own) versions = own;

    const groupsOf = new Map<number, number[]>();
    const reload: { userId: number; version: string | null }[] = [];
    users.forEach((userId, i) => {
      const c = cached[i];
      if (c !== undefined && c.version === (versions[i] ?? null)) groupsOf.set(userId, c.groups);
      else reload.push({ userId, version: versions[i] ?? null });
    });
    const [loaded, relations] = await Promise.all([
      loadGroups(ctx, reload, now),
      findRelationIds(ctx, pending.map((p) => [p.userId, p.sessionId])),
    ]);
    for (const [userId, groups] of loaded) groupsOf.set(userId, groups);

    // Round trip 2, only for what the first could not know.
    const hints = new Map<string, number>();
    for (const p of pending) {
      p.convId = relations.get(pairKey(p.userId, p.sessionId)) ?? 0;
      const key = convKey(1, p.convId);
      if (p.convId > 0 && !hints.has(key)) {
        hints.set(key, 0);
        reads.add((q) => q.get(`msg_id_${p.convId}`), (v) => hints.set(key, Number(v ?? 0)));
      }
    }
    for (const [userId, groups] of loaded) counters.want(reads, userId, groups);
    await reads.run();

    for (const [userId, groups] of groupsOf) {
      for (const groupId of groups) {
        const count = counters.unread(userId, groupId);
        if (count > 0) pending.push({ userId, kind: 2, sessionId: groupId, count, convId: groupId });
      }
    }
    const convs = new Map<string, Conv>();
    for (const p of pending) {
      const key = convKey(p.kind, p.convId);
      if (p.convId > 0 && !convs.has(key)) {
        convs.set(key, { kind: p.kind, convId: p.convId, hint: (p.kind === 1 ? hints.get(key) : counters.hint(p.convId)) || 0 });
      }
    }
    const latest = convs.size > 0 ? await latestMessages(ctx, [...convs.values()]) : new Map<string, Latest>();
    const byUser = infos(pending, latest);
    return reqs.map((r) => answer(r.userId ?? 0, byUser.get(r.userId) ?? []));
  },
};

/** Per user, the unread sessions that have a latest message to show, in the order found. */
function infos(pending: readonly Pending[], latest: ReadonlyMap<string, Latest>): Map<number, UnreadInfo[]> {
  const out = new Map<number, UnreadInfo[]>();
  for (const p of pending) {
    const last = latest.get(convKey(p.kind, p.convId));
    if (!last) continue; // counted, but nothing visible left to show: TeamTalk leaves such sessions out
    let list = out.get(p.userId);
    if (!list) out.set(p.userId, (list = []));
    list.push({
      sessionId: p.sessionId,
      sessionType: p.kind,
      unreadCnt: p.count,
      latestMsgId: last.msgId,
      latestMsgData: previewData(last.type, last.content), // voice: "[语音]", as TeamTalk
      latestMsgType: last.type,
      latestMsgFromUserId: last.fromId,
    });
  }
  return out;
}

/** One-to-one sessions with something unread, from a `unread_{uid}` hash. */
function addSingles(pending: Pending[], userId: number, hash: unknown): void {
  for (const [peer, cnt] of Object.entries(hash as Record<string, string>)) {
    const sessionId = Number(peer);
    const count = Number(cnt);
    if (Number.isInteger(sessionId) && sessionId > 0 && count > 0) pending.push({ userId, kind: 1, sessionId, count, convId: 0 });
  }
}
