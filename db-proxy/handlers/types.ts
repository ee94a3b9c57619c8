import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Mysql } from '../storage/mysql.ts';
import type { ShardFence } from '../storage/shard-fence.ts';

/** What a handler can reach inside a worker (or inline on the main thread). */
export interface HandlerContext {
  mysql: Mysql;
  /** Counters and msg ids (TeamTalk's `unread` pool): REDIS_URL. */
  redis: Redis;
  /** Device tokens (TeamTalk's `token` pool): REDIS_URL_TOKEN, else the same client as `redis`. */
  tokens: Redis;
  /**
   * Group caches: `group_member_*`, `group_set_*` (TeamTalk's `group_member`
   * and `group_set` pools) and our `user_groups_ver_*`: REDIS_URL_GROUP,
   * else the same client as `redis`.
   */
  groups: Redis;
  /** N: IMMessage_{relateId % N}, IMGroupMessage_{groupId % N} (the map in force; it can change while running). */
  readonly shards: number;
  /** Writes to shard tables enter it (storage/shard-fence.ts): a shard map change freezes them. */
  fence: ShardFence;
  /** Follows the map version in force (the fence says which) before shard tables are used. */
  syncMap(): Promise<void>;
  log: Logger;
  /** Unix time in seconds. */
  now(): number;
}

/** One answer: the command it goes out as and the message (encoded by the runner). */
export interface Reply {
  commandId: number;
  message: object;
  /** PDU header flag bits (common/outcome.ts); 0 when absent. */
  flag?: number;
}

/**
 * A handler runs every request of its command id in one batch, in arrival
 * order, and returns one entry per request: a reply, or null where TeamTalk's
 * protocol defines no answer for the command. `fail` builds the explicit
 * refusal used when `run` throws (storage down, bad input): every request
 * that has an answer in the protocol gets one.
 */
export interface Handler<Req = unknown> {
  commandId: number;
  run(ctx: HandlerContext, reqs: Req[]): Promise<(Reply | null)[]>;
  fail(req: Req, err: unknown): Reply | null;
  /** The answer when the request may or may not have taken effect; commands without it answer `fail`. */
  unknown?(req: Req): Reply | null;
}

/** A handler that treats each request on its own, running a batch concurrently. */
export function perRequest<Req>(
  commandId: number,
  one: (ctx: HandlerContext, req: Req) => Promise<Reply | null>,
  fail: (req: Req, err: unknown) => Reply | null,
): Handler<Req> {
  return {
    commandId,
    fail,
    async run(ctx, reqs) {
      const settled = await Promise.allSettled(reqs.map((r) => one(ctx, r)));
      return settled.map((s, i) => {
        if (s.status === 'fulfilled') return s.value;
        ctx.log.warn({ err: s.reason, commandId }, 'request failed');
        return fail(reqs[i]!, s.reason);
      });
    },
  };
}

/** Command id → handler. */
export type Registry = ReadonlyMap<number, Handler<never>>;
