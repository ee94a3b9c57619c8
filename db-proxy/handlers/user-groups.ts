import { BoundedCache, perOwner } from './bounded-cache.ts';
import { GROUP_LIVE, MEMBER_ACTIVE, placeholders } from './group-members.ts';
import type { HandlerContext } from './types.ts';

/**
 * The live groups (IMGroup.status 0) each user is an active member of
 * (IMGroupMember.status 0), cached per worker.
 *
 * A cached list is used only while the user's `groupKeys.listVersion`
 * token in Redis still equals the token read *before* the list was loaded
 * from MySQL: db-proxy writes a new token after committing any membership
 * change (syncMemberCache), so a list loaded from rows older than a change
 * never outlives the next request. Tokens are random, so a Redis that lost
 * its keys cannot bring an old token back. Changes made behind db-proxy's
 * back (operator SQL, a group status change) are picked up after
 * GROUP_LIST_TTL_MS at the latest.
 */
export const GROUP_LIST_TTL_MS = 30_000;
const MAX_USERS = 100_000;

export interface GroupList {
  /** The listVersion token read before loading; null when the key was absent. */
  version: string | null;
  loadedAt: number;
  groups: number[];
}

const cacheOf = perOwner(() => new BoundedCache<number, GroupList>(MAX_USERS));

/** The cached list of a user, if younger than the TTL; whether it is current depends on the token. */
export function cachedGroups(ctx: HandlerContext, userId: number, now: number): GroupList | undefined {
  const cache = cacheOf(ctx.mysql);
  const hit = cache.get(userId);
  if (hit === undefined) return undefined;
  if (now - hit.loadedAt < GROUP_LIST_TTL_MS) return hit;
  cache.delete(userId);
  return undefined;
}

/**
 * Loads the group lists of `users` from MySQL in one query and caches each
 * under the token the caller read from Redis before calling.
 * STRAIGHT_JOIN: the optimizer otherwise scans IMGroup and probes members
 * group by group.
 */
export async function loadGroups(
  ctx: HandlerContext,
  users: readonly { userId: number; version: string | null }[],
  now: number,
): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>(users.map((u) => [u.userId, []]));
  if (users.length === 0) return out;
  const rows = await ctx.mysql.query<{ userId: number; groupId: number }[]>(
    ctx.mysql.main,
    `SELECT DISTINCT m.userId, m.groupId FROM IMGroupMember m STRAIGHT_JOIN IMGroup g ON g.id = m.groupId
      WHERE m.userId IN (${placeholders(users.length)}) AND m.status = ? AND g.status = ?`,
    [...users.map((u) => u.userId), MEMBER_ACTIVE, GROUP_LIVE],
  );
  for (const r of rows) out.get(r.userId)?.push(r.groupId);
  const cache = cacheOf(ctx.mysql);
  for (const u of users) cache.set(u.userId, { version: u.version, loadedAt: now, groups: out.get(u.userId)! });
  return out;
}
