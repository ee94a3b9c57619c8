import type { HandlerContext } from './types.ts';

/**
 * Wrong-password backoff, keyed by (login name, client address) so that a
 * stranger guessing from elsewhere cannot lock a user out of her own
 * address, and names are compared exactly (login.ts) so that spelling a
 * name differently is another, non-existent account, not a fresh counter.
 *
 * After `freeFailures` wrong passwords in a row from one source, each
 * further failure locks that (name, source) for `firstDelayMs`, doubling
 * with every failure up to `maxDelayMs`; while locked, attempts are refused
 * without checking the password. A success clears both keys; a quiet
 * `windowS` clears the count. Requests without a client address (TeamTalk's
 * msg_server) share one counter per name with a higher threshold.
 */
export const Lockout = {
  /** Failures from one client address before the backoff starts. */
  freeFailures: 5,
  /** Failures per name without a client address before the backoff starts. */
  freeFailuresNoSource: 20,
  firstDelayMs: 1000,
  maxDelayMs: 15 * 60_000,
  /** The failure count is forgotten this long after the last failure. */
  windowS: 30 * 60,
} as const;

/**
 * Failure count of a (name, source): `login_fail_{source}|{name}`; the
 * source is an IP address (never contains `|`), '' for none. Ours, not
 * TeamTalk's (TeamTalk counts in each db proxy's memory).
 */
export const failureKey = (name: string, source: string): string => `login_fail_${source}|${name}`;
/** Present (with a TTL) while the (name, source) is locked. */
export const lockKey = (name: string, source: string): string => `login_lock_${source}|${name}`;

/** How long the `failures`-th consecutive failure locks, 0 below the threshold. */
export function lockDelayMs(failures: number, source: string): number {
  const free = source ? Lockout.freeFailures : Lockout.freeFailuresNoSource;
  if (failures < free) return 0;
  const doublings = Math.min(failures - free, 30);
  return Math.min(Lockout.maxDelayMs, Lockout.firstDelayMs * 2 ** doublings);
}

export interface LockState {
  name: string;
  source: string;
  failures: number;
  locked: boolean;
}

/** The stored state of each (name, source); all clear when Redis cannot be read (logins still work). */
export async function readLocks(ctx: HandlerContext, keys: readonly { name: string; source: string }[]): Promise<LockState[]> {
  if (keys.length === 0) return [];
  const pipe = ctx.redis.pipeline();
  for (const k of keys) pipe.get(failureKey(k.name, k.source)).exists(lockKey(k.name, k.source));
  try {
    const res = (await pipe.exec()) ?? [];
    const failed = res.find(([e]) => e);
    if (failed) throw failed[0];
    return keys.map((k, i) => ({ ...k, failures: Number(res[2 * i]?.[1] ?? 0) || 0, locked: Number(res[2 * i + 1]?.[1]) === 1 }));
  } catch (err) {
    ctx.log.warn({ err }, 'login failure counters unavailable');
    return keys.map((k) => ({ ...k, failures: 0, locked: false }));
  }
}

/**
 * Adds each state's new failures to its counter and locks it for the delay
 * its new total calls for; clears the keys of states that succeeded.
 * Failures are logged only: the answers stand.
 */
export async function recordLocks(ctx: HandlerContext, failed: Map<LockState, number>, succeeded: Set<LockState>): Promise<void> {
  try {
    if (failed.size > 0) {
      const pipe = ctx.redis.pipeline();
      for (const [s, n] of failed) pipe.incrby(failureKey(s.name, s.source), n).expire(failureKey(s.name, s.source), Lockout.windowS);
      const res = (await pipe.exec()) ?? [];
      const locks = ctx.redis.pipeline();
      [...failed.keys()].forEach((s, i) => {
        const delay = lockDelayMs(Number(res[2 * i]?.[1] ?? 0), s.source);
        if (delay > 0) {
          locks.set(lockKey(s.name, s.source), '1', 'PX', delay);
          // The count must outlive the lock it decides.
          locks.pexpire(failureKey(s.name, s.source), Math.max(Lockout.windowS * 1000, delay));
        }
      });
      if (locks.length > 0) await locks.exec();
    }
    const clear = [...succeeded].filter((s) => !failed.has(s));
    if (clear.length > 0) await ctx.redis.del(...clear.flatMap((s) => [failureKey(s.name, s.source), lockKey(s.name, s.source)]));
  } catch (err) {
    ctx.log.warn({ err }, 'login failure counters not updated');
  }
}
