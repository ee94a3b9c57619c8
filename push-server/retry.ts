/**
 * When to try a push again: exponential backoff with full jitter, a
 * provider's Retry-After honoured, bounded in attempts and in total time.
 */

export interface RetryPolicy {
  /** Attempts per token, the first included. */
  maxAttempts: number;
  /** Backoff before the second attempt (before jitter); doubles per attempt. */
  baseDelayMs: number;
  /** Ceiling of one backoff (Retry-After above it is still honoured, within the budget). */
  maxDelayMs: number;
  /** A token is given up when its next attempt would start later than this after its first. */
  budgetMs: number;
}

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The wait before attempt number `attempt + 1` (attempt counts from 1):
 * Retry-After when the provider gave one, else a uniform draw in
 * [0, min(maxDelay, base * 2^(attempt-1))] ("full jitter", so that many
 * tokens failing together do not come back together).
 */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfter: number | undefined, random: () => number = Math.random): number {
  if (retryAfter !== undefined) return retryAfter;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(30, attempt - 1));
  return Math.floor(random() * (ceiling + 1));
}

/**
 * The wait before the next attempt of a token first tried at `firstAt`,
 * after `attempt` attempts; null when attempts or time are used up.
 */
export function nextAttemptIn(
  policy: RetryPolicy,
  attempt: number,
  firstAt: number,
  retryAfter: number | undefined,
  now = Date.now(),
  random: () => number = Math.random,
): number | null {
  if (attempt >= policy.maxAttempts) return null;
  const wait = backoffMs(policy, attempt, retryAfter, random);
  return now + wait - firstAt > policy.budgetMs ? null : wait;
}
