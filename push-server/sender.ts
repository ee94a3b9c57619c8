import type { Logger } from 'pino';
import { FairQueue } from './fair-queue.ts';
import type { PushStats } from './metrics.ts';
import { nextAttemptIn, type RetryPolicy } from './retry.ts';
import { reasonOf, type Provider, type PushJob, type Verdict } from './types.ts';

/** How a token's push ended. */
export type Outcome = 'sent' | 'dead' | 'failed';

export interface SenderOptions {
  /** Attempts running at once at this provider (HTTP/2 streams on its one session). */
  concurrency: number;
  retry: RetryPolicy;
}

interface Item {
  source: number;
  job: PushJob;
  /** Attempts made so far. */
  attempt: number;
  firstAt: number;
  settle(outcome: Outcome): void;
}

/**
 * The work of one provider: a fair queue of tokens (round robin over
 * access-server links), at most `concurrency` attempts at once, and
 * retries after a backoff during which the token holds no slot (APNs'
 * 429 is about one device token; the others go on meanwhile). Every
 * submitted token is settled exactly once.
 */
export class Sender {
  private readonly queue = new FairQueue<Item>();
  private readonly backingOff = new Map<NodeJS.Timeout, Item>();
  private running = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly provider: Provider,
    private readonly opts: SenderOptions,
    private readonly stats: PushStats,
    private readonly log: Logger,
  ) {}

  /** Tokens waiting for a slot. */
  get queued(): number {
    return this.queue.size;
  }

  /** Tokens being sent or waiting out a backoff. */
  get active(): number {
    return this.running + this.backingOff.size;
  }

  /** Queues `job`; `settle` is called once with how it ended. */
  submit(source: number, job: PushJob, settle: (outcome: Outcome) => void): void {
    if (this.closed) {
      settle('failed');
      return;
    }
    this.queue.push(source, { source, job, attempt: 0, firstAt: Date.now(), settle });
    this.pump();
  }

  /** Resolves once nothing is queued, running or backing off. */
  idle(): Promise<void> {
    if (this.queue.size === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops: what waits (queued or backing off) is settled failed; running attempts end failed when their stream does. */
  abort(): void {
    this.closed = true;
    for (const [timer, item] of this.backingOff) {
      clearTimeout(timer);
      this.finish(item, 'failed');
    }
    this.backingOff.clear();
    for (const item of this.queue.drain()) this.finish(item, 'failed');
    this.checkIdle();
  }

  private pump(): void {
    while (!this.closed && this.running < this.opts.concurrency) {
      const item = this.queue.shift();
      if (!item) break;
      this.running++;
      item.attempt++;
      this.provider.send(item.job).then(
        (v) => this.onVerdict(item, v),
        (err: unknown) => this.onVerdict(item, { kind: 'retry', reason: reasonOf(err) }),
      );
    }
  }

  private onVerdict(item: Item, v: Verdict): void {
    this.running--;
    const name = this.provider.name;
    if (v.kind === 'sent') {
      this.stats.sent[name]++;
      this.finish(item, 'sent');
    } else if (v.kind === 'dead') {
      this.stats.dead++;
      this.log.info({ provider: name, token: shortToken(item.job.token), reason: v.reason }, 'dead device token');
      this.finish(item, 'dead');
    } else if (v.kind === 'failed') {
      this.log.warn({ provider: name, token: shortToken(item.job.token), reason: v.reason }, 'push refused by provider');
      this.finish(item, 'failed');
    } else {
      const wait = this.closed ? null : nextAttemptIn(this.opts.retry, item.attempt, item.firstAt, v.retryAfterMs);
      if (wait === null) {
        this.stats.gaveUp++;
        this.log.warn({ provider: name, token: shortToken(item.job.token), attempts: item.attempt, reason: v.reason }, 'push given up');
        this.finish(item, 'failed');
      } else {
        this.stats.retries++;
        this.log.debug({ provider: name, attempt: item.attempt, waitMs: wait, reason: v.reason }, 'push retry');
        const timer = setTimeout(() => {
          this.backingOff.delete(timer);
          this.queue.unshift(item.source, item);
          this.pump();
        }, wait);
        timer.unref();
        this.backingOff.set(timer, item);
      }
    }
    this.pump();
    this.checkIdle();
  }

  private finish(item: Item, outcome: Outcome): void {
    try {
      item.settle(outcome);
    } catch (err) {
      this.log.error({ err }, 'push settle failed');
    }
  }

  private checkIdle(): void {
    if (this.queue.size > 0 || this.active > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** The first characters of a token, enough to find it in a database, not to use it. */
export function shortToken(token: string): string {
  return token.length > 12 ? `${token.slice(0, 12)}…` : token;
}
