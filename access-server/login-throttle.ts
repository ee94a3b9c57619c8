/**
 * Login attempts per client source (source-address.ts: an IPv4 address, an
 * IPv6 /64): a token bucket of `burst` attempts refilled at `ratePerSec`.
 * It bounds how fast one source can try accounts, across all of them; the
 * wrong-password backoff per (name, source) is db-proxy's
 * (db-proxy/handlers/login-lockout.ts).
 *
 * Memory is bounded: at most `maxSources` buckets, in a Map kept in order of
 * last use. A bucket refills by arithmetic on its next use (no timers); one
 * that has refilled to `burst` says nothing a fresh one would not, so a full
 * table first drops such buckets from its least recently used end, then the
 * least recently used bucket itself.
 */
import { AddressSet, sourceKey } from './source-address.ts';

export interface LoginThrottleOptions {
  ratePerSec: number;
  burst: number;
  /** Most sources tracked at once. */
  maxSources: number;
  /** Addresses and CIDR blocks that are never throttled. */
  exempt: readonly string[];
}

export interface LoginThrottleStats {
  /** Attempts refused over the rate. */
  throttled: number;
  /** Buckets dropped to make room (full ones and least recently used ones). */
  evicted: number;
}

interface Bucket {
  tokens: number;
  at: number;
  /** Attempts refused since the bucket was last full (the source last quiet). */
  refused: number;
}

/** Buckets looked at from the least recently used end for a full one before the oldest is dropped. */
const EVICT_SCAN = 16;

export class LoginThrottle {
  readonly stats: LoginThrottleStats = { throttled: 0, evicted: 0 };
  private readonly buckets = new Map<string, Bucket>();
  private readonly exempt: AddressSet;

  constructor(
    private readonly opts: LoginThrottleOptions,
    private readonly clock: () => number = Date.now,
  ) {
    this.exempt = new AddressSet(opts.exempt);
  }

  /** Sources tracked now. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * One login attempt from `address`: 0 when it may go ahead (a token was
   * taken); else it is refused, and the number says how many attempts of
   * this source were refused since its bucket was last full, this one
   * included (so that a caller can log the start of a flood, not each
   * attempt).
   */
  attempt(address: string): number {
    if (this.exempt.has(address)) return 0;
    const now = this.clock();
    const key = sourceKey(address);
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key);
      this.refill(b, now);
      if (b.tokens >= this.opts.burst) b.refused = 0;
    } else {
      if (this.buckets.size >= this.opts.maxSources) this.evict(now);
      b = { tokens: this.opts.burst, at: now, refused: 0 };
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    this.stats.throttled++;
    return ++b.refused;
  }

  private refill(b: Bucket, now: number): void {
    const elapsed = now - b.at;
    if (elapsed <= 0) return;
    b.tokens = Math.min(this.opts.burst, b.tokens + (elapsed * this.opts.ratePerSec) / 1000);
    b.at = now;
  }

  private isFull(b: Bucket, now: number): boolean {
    return b.tokens + (Math.max(0, now - b.at) * this.opts.ratePerSec) / 1000 >= this.opts.burst;
  }

  /** Makes room for one more bucket. */
  private evict(now: number): void {
    let scanned = 0;
    for (const [key, b] of this.buckets) {
      if (this.buckets.size < this.opts.maxSources || scanned++ >= EVICT_SCAN) break;
      if (this.isFull(b, now)) {
        this.buckets.delete(key);
        this.stats.evicted++;
      }
    }
    while (this.buckets.size >= this.opts.maxSources) {
      const oldest = this.buckets.keys().next().value as string;
      this.buckets.delete(oldest);
      this.stats.evicted++;
    }
  }
}
