import type { LatencySummary } from './types.ts';

const FINE_US = 10;
const FINE_LIMIT_US = 100_000;
const COARSE_US = 1000;
const BUCKETS = FINE_LIMIT_US / FINE_US + 120_000;

/**
 * A fixed-size latency histogram: 10 µs buckets up to 100 ms, then 1 ms
 * buckets up to 2 min (anything slower lands in the last one). Memory is
 * constant whatever the request count; the maximum is kept exactly.
 */
export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private n = 0;
  private sumUs = 0;
  private maxUs = 0;

  record(us: number): void {
    const b = us < FINE_LIMIT_US ? Math.floor(us / FINE_US) : FINE_LIMIT_US / FINE_US + Math.floor((us - FINE_LIMIT_US) / COARSE_US);
    this.counts[Math.min(Math.max(b, 0), BUCKETS - 1)]!++;
    this.n++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  get count(): number {
    return this.n;
  }

  /** Upper edge of the bucket holding quantile q (0..1), in µs. */
  quantileUs(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) {
        const fine = FINE_LIMIT_US / FINE_US;
        const edge = b < fine ? (b + 1) * FINE_US : FINE_LIMIT_US + (b - fine + 1) * COARSE_US;
        return Math.min(edge, this.maxUs);
      }
    }
    return this.maxUs;
  }

  summary(): LatencySummary {
    const ms = (us: number): number => Math.round(us) / 1000;
    return {
      count: this.n,
      meanMs: this.n === 0 ? 0 : ms(this.sumUs / this.n),
      p50Ms: ms(this.quantileUs(0.5)),
      p90Ms: ms(this.quantileUs(0.9)),
      p99Ms: ms(this.quantileUs(0.99)),
      maxMs: ms(this.maxUs),
    };
  }
}
