import type { Redis } from 'ioredis';
import type { HandlerContext } from './types.ts';
import type { Mysql } from '../storage/mysql.ts';

/**
 * Message ids per conversation come from Redis (`msg_id_{relateId}`,
 * `group_msg_id_{groupId}`, TeamTalk's keys) and are never reused: when a
 * key is missing (Redis restarted empty, flushed, or evicted), it is seeded
 * from the largest msgId stored in MySQL before it is incremented.
 */
const ALLOC = `
local v = redis.call('GET', KEYS[1])
if not v then
  if ARGV[2] == '' then return -1 end
  redis.call('SET', KEYS[1], ARGV[2])
end
return redis.call('INCRBY', KEYS[1], ARGV[1])
`;

interface AllocRedis extends Redis {
  allocMsgIds(key: string, count: number, seed: string): Promise<number>;
}

/** Defines the allocation script on `redis` (once; context creation does it up front). */
export function withAlloc(redis: Redis): AllocRedis {
  const r = redis as AllocRedis;
  if (typeof r.allocMsgIds !== 'function') redis.defineCommand('allocMsgIds', { numberOfKeys: 1, lua: ALLOC });
  return r;
}

export interface IdRequest {
  kind: 'single' | 'group';
  /** relateId for single conversations, groupId for groups. */
  id: number;
  count: number;
}

/** Reserves `count` ids for each conversation; returns the last id of each range, in input order. */
export async function allocateMsgIds(ctx: HandlerContext, reqs: readonly IdRequest[]): Promise<number[]> {
  const redis = withAlloc(ctx.redis);
  const first = await Promise.all(reqs.map((r) => redis.allocMsgIds(keyOf(r), r.count, '')));
  const missing = first.map((v, i) => (v < 0 ? i : -1)).filter((i) => i >= 0);
  if (missing.length === 0) return first;
  const seeds = await Promise.all(missing.map((i) => maxStoredMsgId(ctx.mysql, ctx.shards, reqs[i]!)));
  const seeded = await Promise.all(missing.map((i, j) => redis.allocMsgIds(keyOf(reqs[i]!), reqs[i]!.count, String(seeds[j]))));
  missing.forEach((i, j) => (first[i] = seeded[j]!));
  return first;
}

function keyOf(r: IdRequest): string {
  return r.kind === 'single' ? `msg_id_${r.id}` : `group_msg_id_${r.id}`;
}

async function maxStoredMsgId(mysql: Mysql, shards: number, r: IdRequest): Promise<number> {
  const shard = r.id % shards;
  const sql =
    r.kind === 'single'
      ? `SELECT COALESCE(MAX(msgId), 0) AS m FROM IMMessage_${shard} WHERE relateId = ?`
      : `SELECT COALESCE(MAX(msgId), 0) AS m FROM IMGroupMessage_${shard} WHERE groupId = ?`;
  const rows = await mysql.query<{ m: number }[]>(mysql.shard(shard), sql, [r.id]);
  return Number(rows[0]?.m ?? 0);
}
