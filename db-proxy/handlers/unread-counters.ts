import type { Redis } from 'ioredis';

/**
 * Ours, not TeamTalk's: held (SET NX with a TTL, extended per batch) by the
 * one db-proxy rebuilding the unread counters. While it exists, message id
 * allocation reports it, and the batch that got those ids counts its
 * messages through `unreadBumpMarked`; without it, plain HINCRBY.
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

export interface UnreadRedis {
  unreadBumpMarked(unreadKey: string, markKey: string, from: number, n: number, minMsgId: number): Promise<number>;
  rebuildMark(counterKey: string, markA: string, markB: string, peerOfA: number, peerOfB: number, ttlMs: number, lostSeed: number): Promise<string>;
  rebuildFinish(unreadKey: string, markKey: string, peer: number, bound: string, count: number): Promise<number>;
}

/** Defines the scripts on `redis` (once; context creation does it up front). */
export function withUnreadScripts(redis: Redis): Redis & UnreadRedis {
  const r = redis as Redis & UnreadRedis;
  if (typeof r.unreadBumpMarked !== 'function') {
    redis.defineCommand('unreadBumpMarked', { numberOfKeys: 2, lua: MARKED_BUMP });
    redis.defineCommand('rebuildMark', { numberOfKeys: 3, lua: MARK });
    redis.defineCommand('rebuildFinish', { numberOfKeys: 2, lua: FINISH });
  }
  return r;
}
