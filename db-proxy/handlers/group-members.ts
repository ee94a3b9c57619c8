import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { groupRebuildMarkKey, withUnreadScripts, type UnreadRedis } from './unread-counters.ts';
import { recordGroupJoin } from './session-read.ts';
import type { HandlerContext } from './types.ts';

/** IMGroup.type and IMGroup.status values (TeamTalk's). */
export const GroupType = { NORMAL: 1, TMP: 2 } as const;
export const GROUP_LIVE = 0;
/** IMGroupMember.status values. */
export const MEMBER_ACTIVE = 0;
export const MEMBER_LEFT = 1;
/** Field suffix of the per-group push setting in `group_set_{groupId}` (TeamTalk's IM_GROUP_SETTING_PUSH). */
export const SETTING_PUSH = 1;
/** result_code of group answers (TeamTalk uses 0 and 1 only). */
export const ResultCode = { OK: 0, FAILED: 1 } as const;
/** Upper bound on ids taken from one request (members, groups, msg ids). */
export const MAX_IDS_PER_REQUEST = 1000;

export function placeholders(n: number): string {
  return new Array<string>(n).fill('?').join(', ');
}

/** Positive, distinct ids in first-seen order, at most `max` of them. */
export function distinctIds(ids: readonly number[] | null | undefined, max = MAX_IDS_PER_REQUEST): number[] {
  const out = new Set<number>();
  for (const id of ids ?? []) {
    if (Number.isInteger(id) && id > 0) out.add(id);
    if (out.size >= max) break;
  }
  return [...out];
}

/** TeamTalk's Redis keys for groups. */
export const groupKeys = {
  /** hash userId → join time (unix seconds) of every current member. */
  members: (groupId: number) => `group_member_${groupId}`,
  /** hash `{userId}_{setting}` → value; setting 1 is push shield. */
  settings: (groupId: number) => `group_set_${groupId}`,
  pushField: (userId: number) => `${userId}_${SETTING_PUSH}`,
  total: (groupId: number) => `${groupId}_im_group_msg`,
  read: (userId: number, groupId: number) => `${userId}_${groupId}_im_user_group`,
  /**
   * Ours, not TeamTalk's: a token that changes whenever the user's group
   * memberships change, so per-worker caches of a user's groups know when
   * to reload (see user-groups.ts).
   */
  listVersion: (userId: number) => `user_groups_ver_${userId}`,
};

/** Lifetime of a list version key: far beyond any cache's lifetime (a token must never come back while cached). */
const LIST_VERSION_TTL_S = 86_400;

/**
 * When `userId` (still a member of the live group) joined it, or null when
 * not a member. Group history is visible from that moment on (TeamTalk's rule).
 */
export async function memberJoinTime(ctx: HandlerContext, groupId: number, userId: number): Promise<number | null> {
  const rows = await ctx.mysql.query<{ joined: number | null }[]>(
    ctx.mysql.main,
    `SELECT MAX(m.updated) AS joined FROM IMGroupMember m JOIN IMGroup g ON g.id = m.groupId
      WHERE m.groupId = ? AND m.userId = ? AND m.status = ? AND g.status = ?`,
    [groupId, userId, MEMBER_ACTIVE, GROUP_LIVE],
  );
  const joined = rows[0]?.joined;
  return joined === null || joined === undefined ? null : Number(joined);
}

/** Current members of each group, ascending user ids. */
export async function membersOf(ctx: HandlerContext, groupIds: readonly number[]): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>(groupIds.map((g) => [g, []]));
  if (groupIds.length === 0) return out;
  const rows = await ctx.mysql.query<{ groupId: number; userId: number }[]>(
    ctx.mysql.main,
    `SELECT DISTINCT groupId, userId FROM IMGroupMember
      WHERE groupId IN (${placeholders(groupIds.length)}) AND status = ? ORDER BY groupId, userId`,
    [...groupIds, MEMBER_ACTIVE],
  );
  for (const r of rows) out.get(r.groupId)?.push(r.userId);
  return out;
}

/** Defines the mark-read script on `redis`; call before creating a pipeline that uses it. */
export function withMarkRead(redis: Redis): Redis {
  return withUnreadScripts(redis);
}

/**
 * Queues, on a pipeline made after `withMarkRead`, a mark-read of `userIds`
 * in `groupId`: each read count becomes the group total, so they have
 * nothing unread there (TeamTalk copies `{groupId}_im_group_msg` into
 * `{userId}_{groupId}_im_user_group`). Atomic against concurrent sends; a
 * group without a total yet gets read count 0; a counter rebuild under way
 * keeps these counts as they are.
 */
export function markGroupRead(pipe: object, groupId: number, userIds: readonly number[]): void {
  if (userIds.length === 0) return;
  const keys = [groupKeys.total(groupId), ...userIds.map((u) => groupKeys.read(u, groupId)), groupRebuildMarkKey(groupId)];
  void (pipe as UnreadRedis).groupMarkRead(keys.length, ...keys, ...userIds);
}

/**
 * Keeps TeamTalk's `group_member_{groupId}` hash and the read counters in
 * step with a membership change: added users get their join time and start
 * with nothing unread; removed users leave the hash. `reset` rebuilds the
 * hash from `added` alone (a new group); every changed user gets a new
 * `listVersion` token. Failures are logged: MySQL holds the membership, the
 * hash is kept for TeamTalk tools that read it, and cached group lists
 * expire on their own.
 */
export async function syncMemberCache(
  ctx: HandlerContext,
  groupId: number,
  change: { added: readonly number[]; removed: readonly number[]; now: number; reset?: boolean },
): Promise<void> {
  const key = groupKeys.members(groupId);
  const counters = withMarkRead(ctx.redis).multi();
  // One transaction when the caches share the counters' Redis (REDIS_URL_GROUP unset), else one on each.
  const caches = ctx.groups === ctx.redis ? counters : ctx.groups.multi();
  if (change.reset) caches.del(key);
  if (change.added.length > 0) caches.hset(key, Object.fromEntries(change.added.map((u) => [String(u), String(change.now)])));
  if (change.removed.length > 0) caches.hdel(key, ...change.removed.map(String));
  markGroupRead(counters, groupId, [...change.added, ...change.removed]);
  // After the MySQL commit, so a cache filled from the old rows sees a new token.
  const token = randomBytes(8).toString('hex');
  for (const u of new Set([...change.added, ...change.removed])) caches.set(groupKeys.listVersion(u), token, 'EX', LIST_VERSION_TTL_S);
  await Promise.all([...new Set([counters, caches])].map(async (m) => {
    try {
      const results = await m.exec();
      const failed = results?.find(([err]) => err);
      if (failed) ctx.log.warn({ err: failed[0], groupId }, 'group member cache not updated');
    } catch (err) {
      ctx.log.warn({ err, groupId }, 'group member cache not updated');
    }
  }));
  await recordGroupJoin(ctx, groupId, change.added);
}
