import type { Redis } from 'ioredis';
import type { HandlerContext } from './types.ts';
import { remainingMs } from '../storage/deadline.ts';
import { REBUILD_LOCK_KEY } from './unread-counters.ts';

/**
 * Message ids per conversation come from Redis (`msg_id_{relateId}`,
 * `group_msg_id_{groupId}`, TeamTalk's keys) and are never reused: when a
 * key is missing (Redis restarted empty, flushed, or evicted), it is seeded
 * from the largest msgId stored in MySQL before it is incremented. The same
 * script tells whether a counter rebuild is under way (unread-counters.ts),
 * atomically with the allocation: ids handed out before a rebuild starts are
 * below every bound it sets.
 */
const ALLOC = `
local out = {}
local n = #KEYS - 1
for i = 1, n do
  local count = ARGV[2 * i - 1]
  local seed = ARGV[2 * i]
  local v = redis.call('GET', KEYS[i])
  if not v and seed ~= '' then
    redis.call('SET', KEYS[i], seed)
    v = seed
  end
  if v then out[i] = redis.call('INCRBY', KEYS[i], count) else out[i] = -1 end
end
out[n + 1] = redis.call('EXISTS', KEYS[n + 1])
return out
`;

interface AllocRedis extends Redis {
  allocMsgIds(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
}

/** Defines the allocation script on `redis` (once; context creation does it up front). */
export function withAlloc(redis: Redis): AllocRedis {
  const r = redis as AllocRedis;
  if (typeof r.allocMsgIds !== 'function') redis.defineCommand('allocMsgIds', { lua: ALLOC });
  return r;
}

export interface IdRequest {
  kind: 'single' | 'group';
  /** relateId for single conversations, groupId for groups. */
  id: number;
  count: number;
}

export interface Allocation {
  /** The last id of each range, in input order. */
  last: number[];
  /** A counter rebuild was under way at allocation: count these messages through the marks. */
  rebuilding: boolean;
}

/**
 * Reserves `count` ids for each conversation (0 reads the counter, seeding
 * it when lost). One script call for the whole batch; a second one, with
 * seeds read from MySQL, only for counters Redis has lost.
 */
export async function allocateMsgIds(ctx: HandlerContext, reqs: readonly IdRequest[]): Promise<Allocation> {
  if (reqs.length === 0) return { last: [], rebuilding: false };
  const redis = withAlloc(ctx.redis);
  const first = await alloc(redis, reqs, reqs.map(() => ''));
  const missing = first.last.map((v, i) => (v < 0 ? i : -1)).filter((i) => i >= 0);
  if (missing.length === 0) return first;
  const seeds = await Promise.all(missing.map((i) => maxStoredMsgId(ctx, reqs[i]!)));
  const seeded = await alloc(redis, missing.map((i) => reqs[i]!), seeds.map(String));
  missing.forEach((i, j) => (first.last[i] = seeded.last[j]!));
  return { last: first.last, rebuilding: first.rebuilding || seeded.rebuilding };
}

async function alloc(redis: AllocRedis, reqs: readonly IdRequest[], seeds: readonly string[]): Promise<Allocation> {
  const out = await redis.allocMsgIds(reqs.length + 1, ...reqs.map(keyOf), REBUILD_LOCK_KEY, ...reqs.flatMap((r, i) => [r.count, seeds[i]!]));
  const last = out.map(Number);
  const flag = last.pop();
  return { last, rebuilding: flag === 1 };
}

function keyOf(r: IdRequest): string {
  return r.kind === 'single' ? `msg_id_${r.id}` : `group_msg_id_${r.id}`;
}

export async function maxStoredMsgId(ctx: HandlerContext, r: IdRequest): Promise<number> {
  // Inside the fence, on the map in force: a seed read from a shard's old server after a move would be too low.
  const shard = r.id % ctx.shards;
  const leave = await ctx.fence.enter([shard], remainingMs(SEED_FENCE_WAIT_MS));
  try {
    await ctx.syncMap();
    if (r.id % ctx.shards !== shard) return await maxStoredMsgId(ctx, r);
    const sql =
      r.kind === 'single'
        ? `SELECT COALESCE(MAX(msgId), 0) AS m FROM IMMessage_${shard} WHERE relateId = ?`
        : `SELECT COALESCE(MAX(msgId), 0) AS m FROM IMGroupMessage_${shard} WHERE groupId = ?`;
    const rows = await ctx.mysql.query<{ m: number }[]>(ctx.mysql.shard(shard), sql, [r.id]);
    return Number(rows[0]?.m ?? 0);
  } finally {
    leave();
  }
}

/** The longest a seed read waits for a shard map freeze outside a batch. */
const SEED_FENCE_WAIT_MS = 5000;
