import type { Redis } from 'ioredis';

/**
 * Unread counters in Redis with TeamTalk's keys, and the marks a rebuild
 * (rebuild-singles.ts, rebuild-groups.ts) leaves beside them so that
 * traffic during the rebuild is neither lost nor counted twice.
 *
 * REBUILD_LOCK_KEY, ours: held (SET NX with a TTL, extended per batch) by
 * the one db-proxy rebuilding. While it exists, message id allocation
 * reports it, and the batch that got those ids counts its one-to-one
 * messages through `unreadBumpMarked`; without it, plain HINCRBY. Group
 * scripts always look for their group's mark (one HGET in a script that
 * runs anyway).
 */
export const REBUILD_LOCK_KEY = 'db_proxy_counters_rebuild_lock';

/**
 * Ours: the rebuild's marks for user `uid`, a hash beside TeamTalk's
 * `unread_{uid}`. Field `{peerId}` is the bound B: the relation's msg id
 * counter when the mark was set; every message up to B is counted from
 * MySQL. Field `{peerId}:x` counts the messages above B that were counted
 * (or taken back) while the mark stood. A read ack or a removed session
 * deletes the mark (the counter it leaves is right as it is).
 */
export function rebuildMarkKey(uid: number): string {
  return `db_proxy_rebuild_${uid}`;
}

/**
 * Ours: the rebuild's mark of group `groupId`. Field `b` is the bound (the
 * group's msg id counter when marked), `x` the messages above it counted
 * (or taken back) since, and `r:{uid}` flags a member whose read count was
 * set since (its own message above the bound, a read ack, a join): its
 * unread count, total minus read, is right as Redis holds it.
 */
export function groupRebuildMarkKey(groupId: number): string {
  return `db_proxy_rebuild_g${groupId}`;
}

/** Marks are left behind only by a rebuild that died; they expire. */
export const REBUILD_MARK_TTL_MS = 15 * 60_000;

/**
 * KEYS: unread_{to}, mark of {to}; ARGV: from, n (negative takes back),
 * the smallest msg id of the messages. The counter always moves; a mark
 * whose bound is below those ids also records the change.
 */
const MARKED_BUMP = `
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
local b = redis.call('HGET', KEYS[2], ARGV[1])
if b and tonumber(ARGV[3]) > tonumber(b) then redis.call('HINCRBY', KEYS[2], ARGV[1] .. ':x', ARGV[2]) end
return 0
`;

/**
 * KEYS: msg_id_{relateId}, mark of user a, mark of user b; ARGV: b's id (the
 * field in a's mark), a's id, mark TTL, the largest msg id stored (used when
 * Redis lost the counter). Bound = the msg id counter now. Returns the bound.
 */
const MARK = `
local b = redis.call('GET', KEYS[1]) or ARGV[4]
redis.call('HSET', KEYS[2], ARGV[1], b)
redis.call('HDEL', KEYS[2], ARGV[1] .. ':x')
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], b)
redis.call('HDEL', KEYS[3], ARGV[2] .. ':x')
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return b
`;

/**
 * KEYS: unread_{uid}, mark of uid; ARGV: peer, bound, count of messages up
 * to the bound from MySQL. Writes count + what the mark recorded, when the
 * mark still holds that bound; removes the mark. 1: written, 0: the mark
 * was gone (read meanwhile) or replaced.
 */
const FINISH = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
local x = tonumber(redis.call('HGET', KEYS[2], ARGV[1] .. ':x') or '0')
local v = tonumber(ARGV[3]) + x
if v > 0 then redis.call('HSET', KEYS[1], ARGV[1], v) else redis.call('HDEL', KEYS[1], ARGV[1]) end
redis.call('HDEL', KEYS[2], ARGV[1], ARGV[1] .. ':x')
return 1
`;

/**
 * Group counters of stored messages, TeamTalk's scheme: KEYS: the group
 * total, the group's mark, then the read count of each sender; ARGV: n, the
 * smallest msg id, then per sender its position among the n and its id. The
 * total grows by n; a sender has read up to its own last message. A mark
 * whose bound is below the ids records them.
 */
const GROUP_BUMP = `
local n = tonumber(ARGV[1])
local total = redis.call('HINCRBY', KEYS[1], 'count', n)
local senders = #KEYS - 2
for i = 1, senders do
  redis.call('HSET', KEYS[2 + i], 'count', total - n + tonumber(ARGV[2 + i]))
end
local b = redis.call('HGET', KEYS[2], 'b')
if b and tonumber(ARGV[2]) > tonumber(b) then
  redis.call('HINCRBY', KEYS[2], 'x', n)
  for i = 1, senders do redis.call('HSET', KEYS[2], 'r:' .. ARGV[2 + senders + i], 1) end
end
return total
`;

/** KEYS: the group total, the group's mark; ARGV: n taken back, the smallest msg id. */
const GROUP_UNCOUNT = `
redis.call('HINCRBY', KEYS[1], 'count', -tonumber(ARGV[1]))
local b = redis.call('HGET', KEYS[2], 'b')
if b and tonumber(ARGV[2]) > tonumber(b) then redis.call('HINCRBY', KEYS[2], 'x', -tonumber(ARGV[1])) end
return 0
`;

/**
 * Members have read the whole group (read ack, join, removed session):
 * KEYS: the group total, the read count of each user, the group's mark;
 * ARGV: the users' ids. Each read count becomes the total; a mark flags them.
 */
const GROUP_MARK_READ = `
local n = #KEYS - 1
local total = redis.call('HGET', KEYS[1], 'count') or '0'
for i = 2, n do
  redis.call('HSET', KEYS[i], 'count', total)
end
if redis.call('EXISTS', KEYS[n + 1]) == 1 then
  for j = 1, #ARGV do redis.call('HSET', KEYS[n + 1], 'r:' .. ARGV[j], 1) end
end
return total
`;

/** KEYS: group_msg_id_{groupId}, its mark; ARGV: mark TTL, the largest msg id stored (when Redis lost the counter). Returns the bound. */
const GROUP_MARK = `
local b = redis.call('GET', KEYS[1]) or ARGV[2]
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'b', b)
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return b
`;

/**
 * KEYS: the group total, its mark, the read count of each member; ARGV: the
 * bound, the stored messages up to it, each member's id, each member's
 * unread messages up to it. Total = count + what the mark recorded; a
 * flagged member keeps its unread count as Redis holds it, the others get
 * theirs up to the bound plus every message since. Removes the mark. 1:
 * written, 0: the mark is not the one set (another rebuild took over).
 */
const GROUP_FINISH = `
if redis.call('HGET', KEYS[2], 'b') ~= ARGV[1] then return 0 end
local x = tonumber(redis.call('HGET', KEYS[2], 'x') or '0')
local tnew = tonumber(ARGV[2]) + x
local tr = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
local m = #KEYS - 2
for i = 1, m do
  local unread
  if redis.call('HEXISTS', KEYS[2], 'r:' .. ARGV[2 + i]) == 1 then
    unread = tr - tonumber(redis.call('HGET', KEYS[2 + i], 'count') or '0')
  else
    unread = tonumber(ARGV[2 + m + i]) + x
  end
  if unread < 0 then unread = 0 end
  if unread > tnew then unread = tnew end
  redis.call('HSET', KEYS[2 + i], 'count', tnew - unread)
end
redis.call('HSET', KEYS[1], 'count', tnew)
redis.call('DEL', KEYS[2])
return 1
`;

export interface UnreadRedis {
  unreadBumpMarked(unreadKey: string, markKey: string, from: number, n: number, minMsgId: number): Promise<number>;
  rebuildMark(counterKey: string, markA: string, markB: string, peerOfA: number, peerOfB: number, ttlMs: number, lostSeed: number): Promise<string>;
  rebuildFinish(unreadKey: string, markKey: string, peer: number, bound: string, count: number): Promise<number>;
  groupBump(numKeys: number, ...args: (string | number)[]): Promise<number>;
  groupUncount(totalKey: string, markKey: string, n: number, minMsgId: number): Promise<number>;
  groupMarkRead(numKeys: number, ...args: (string | number)[]): Promise<string>;
  groupRebuildMark(counterKey: string, markKey: string, ttlMs: number, lostSeed: number): Promise<string>;
  groupRebuildFinish(numKeys: number, ...args: (string | number)[]): Promise<number>;
}

/** Defines the scripts on `redis` (once; context creation does it up front). */
export function withUnreadScripts(redis: Redis): Redis & UnreadRedis {
  const r = redis as Redis & UnreadRedis;
  if (typeof r.unreadBumpMarked !== 'function') {
    redis.defineCommand('unreadBumpMarked', { numberOfKeys: 2, lua: MARKED_BUMP });
    redis.defineCommand('rebuildMark', { numberOfKeys: 3, lua: MARK });
    redis.defineCommand('rebuildFinish', { numberOfKeys: 2, lua: FINISH });
    redis.defineCommand('groupBump', { lua: GROUP_BUMP });
    redis.defineCommand('groupUncount', { numberOfKeys: 2, lua: GROUP_UNCOUNT });
    redis.defineCommand('groupMarkRead', { lua: GROUP_MARK_READ });
    redis.defineCommand('groupRebuildMark', { numberOfKeys: 2, lua: GROUP_MARK });
    redis.defineCommand('groupRebuildFinish', { lua: GROUP_FINISH });
  }
  return r;
}
