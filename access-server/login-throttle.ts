/**
 * Login attempts per client source (source-address.ts: an IPv4 address, an
 * IPv6 /64): a token bucket of `burst` attempts refilled at `ratePerSec`.
 * It bounds how fast one source can try accounts, across all of them; the
 * wrong-password backoff per (name, source) is db-proxy's
 * (db-proxy/handlers/login-lockout.ts).
 *
 * Memory is bounded: at most `maxSources` buckets, in slots of flat arrays
 * found through one Map. A bucket refills by arithmetic on its next use (no
 * timers). A new source takes a free slot, else one a clock hand picks: the
 * hand evicts the first bucket that has refilled to `burst` (it says nothing
 * a fresh one would not) or that was not used since the hand last passed it,
 * and gives used ones a second chance. A hot source costs one Map look-up:
 * moving it within a Map (delete + set, the usual LRU) leaves a deleted entry
 * on its hash chain each time, and its look-ups slow down with every attempt
 * until the table is rebuilt.
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
  /** Buckets dropped to make room for new sources. */
  evicted: number;
}

export class LoginThrottle {
  readonly stats: LoginThrottleStats = { throttled: 0, evicted: 0 };
  private readonly exempt: AddressSet;
  private readonly slotOf = new Map<string, number>();
  private readonly keys: string[] = [];
  private readonly tokens: number[] = [];
  /** When each bucket was last refilled. */
  private readonly at: number[] = [];
  /** Attempts refused since the bucket was last full (the source last quiet). */
  private readonly refused: number[] = [];
  /** Used since the clock hand last passed. */
  private readonly used: boolean[] = [];
  private hand = 0;

  constructor(
    private readonly opts: LoginThrottleOptions,
    private readonly clock: () => number = Date.now,
  ) {
    this.exempt = new AddressSet(opts.exempt);
  }

  /** Sources tracked now. */
  get size(): number {
    return this.slotOf.size;
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
    let s = this.slotOf.get(key);
    if (s === undefined) {
      s = this.freeSlot(now);
      this.slotOf.set(key, s);
      this.keys[s] = key;
      this.tokens[s] = this.opts.burst;
      this.at[s] = now;
      this.refused[s] = 0;
    } else {
      this.refill(s, now);
      if (this.tokens[s]! >= this.opts.burst) this.refused[s] = 0;
    }
    this.used[s] = true;
    if (this.tokens[s]! >= 1) {
      this.tokens[s]! -= 1;
      return 0;
    }
    this.stats.throttled++;
    return ++this.refused[s]!;
  }

  private refill(s: number, now: number): void {
    const elapsed = now - this.at[s]!;
    if (elapsed <= 0) return;
    this.tokens[s] = Math.min(this.opts.burst, this.tokens[s]! + (elapsed * this.opts.ratePerSec) / 1000);
    this.at[s] = now;
  }

  private isFull(s: number, now: number): boolean {
    return this.tokens[s]! + (Math.max(0, now - this.at[s]!) * this.opts.ratePerSec) / 1000 >= this.opts.burst;
  }

  /** A slot for a new source: a never used one while there are some, else the clock hand's pick. */
  private freeSlot(now: number): number {
    if (this.keys.length < this.opts.maxSources) return this.keys.length;
    // Each step clears a used mark or evicts: at most one turn and a step.
    for (;;) {
      const s = this.hand;
      this.hand = s + 1 === this.keys.length ? 0 : s + 1;
      if (this.used[s] && !this.isFull(s, now)) {
        this.used[s] = false;
        continue;
      }
      this.slotOf.delete(this.keys[s]!);
      this.stats.evicted++;
      return s;
    }
  }
}
