import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { OwnedContext } from './context.ts';
import type { RebuildOptions } from './rebuild-batch.ts';
import { rebuildGroups } from './rebuild-groups.ts';
import { rebuildSingles } from './rebuild-singles.ts';
import { REBUILD_LOCK_KEY } from './handlers/unread-counters.ts';

/**
 * Ours, not TeamTalk's: the `run_id` of the Redis whose counters were last
 * known whole. Missing (Redis restarted empty, was flushed) or naming another
 * run (Redis restarted, perhaps from an append-only file up to a second
 * behind) means the counters cannot be trusted: they are rebuilt from MySQL.
 */
export const REDIS_STATE_KEY = 'db_proxy_counters_run_id';

export interface GuardOptions extends Omit<RebuildOptions, 'onBatch'> {
  /** How often the marker is checked; 0: only on reconnect and checkNow(). */
  checkMs: number;
  lockTtlMs: number;
}

export type CheckResult = 'ok' | 'rebuilt' | 'incomplete' | 'busy' | 'failed';

const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Watches Redis for lost data and rebuilds the unread counters with
 * TeamTalk's keys from MySQL while traffic goes on (msg id counters re-seed
 * themselves, see handlers/msg-ids.ts). Runs on db-proxy's main thread with
 * connections of its own; one check at a time; several db-proxies agree
 * through a lock in Redis, and the marker is written only after a rebuild
 * that finished whole on the same Redis run.
 */
export class RedisGuard {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<CheckResult> | null = null;
  private closed = false;
  /** rebuilds: attempts; completed: rebuilds that left exact counters and wrote the marker. */
  readonly stats = { checks: 0, rebuilds: 0, completed: 0, lastRebuildMs: 0, lastResult: 'ok' as CheckResult, rebuilding: false };

  constructor(
    private readonly ctx: OwnedContext,
    private readonly opts: GuardOptions,
    private readonly log: Logger,
  ) {
    ctx.redis.defineCommand('guardLockExtend', { numberOfKeys: 1, lua: EXTEND });
    ctx.redis.defineCommand('guardLockRelease', { numberOfKeys: 1, lua: RELEASE });
    ctx.redis.on('ready', this.onReady);
  }

  start(): void {
    if (this.timer || this.opts.checkMs <= 0) return;
    this.timer = setInterval(() => void this.checkNow(), this.opts.checkMs);
    this.timer.unref();
  }

  /** One check (joins a running one); rebuilds when the marker says Redis lost data. */
  checkNow(): Promise<CheckResult> {
    this.running ??= this.check().finally(() => (this.running = null));
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.ctx.redis.off('ready', this.onReady);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
    await this.ctx.close();
  }

  private readonly onReady = (): void => {
    if (!this.closed) void this.checkNow();
  };

  private async check(): Promise<CheckResult> {
    this.stats.checks++;
    let result: CheckResult;
    try {
      result = await this.checkOnce();
    } catch (err) {
      this.log.warn({ err }, 'redis counter check failed');
      result = 'failed';
    }
    this.stats.lastResult = result;
    return result;
  }

  private async checkOnce(): Promise<CheckResult> {
    const runId = await this.runId();
    if ((await this.ctx.redis.get(REDIS_STATE_KEY)) === runId) return 'ok';
    const token = randomBytes(8).toString('hex');
    if ((await this.ctx.redis.set(REBUILD_LOCK_KEY, token, 'PX', this.opts.lockTtlMs, 'NX')) !== 'OK') return 'busy';
    const redis = this.ctx.redis as unknown as Record<'guardLockExtend' | 'guardLockRelease', (k: string, ...a: (string | number)[]) => Promise<number>>;
    const started = Date.now();
    this.stats.rebuilding = true;
    this.log.warn({ runId }, 'redis counters cannot be trusted (Redis lost or restarted): rebuilding from MySQL');
    try {
      const opts: RebuildOptions = {
        ...this.opts,
        onBatch: async () => {
          if ((await redis.guardLockExtend(REBUILD_LOCK_KEY, token, this.opts.lockTtlMs)) !== 1) throw new Error('rebuild lock lost');
        },
      };
      const singles = await rebuildSingles(this.ctx, opts);
      const groups = await rebuildGroups(this.ctx, opts);
      const ms = Date.now() - started;
      this.stats.rebuilds++;
      this.stats.lastRebuildMs = ms;
      const left = singles.left + groups.left;
      const sameRun = (await this.runId()) === runId;
      this.log.warn({ ms, relations: singles.done, groups: groups.done, left, sameRun }, 'redis counters rebuilt');
      if (left > 0 || !sameRun) return 'incomplete';
      await this.ctx.redis.set(REDIS_STATE_KEY, runId);
      this.stats.completed++;
      return 'rebuilt';
    } finally {
      this.stats.rebuilding = false;
      await redis.guardLockRelease(REBUILD_LOCK_KEY, token).catch(() => undefined);
    }
  }

  private async runId(): Promise<string> {
    const info = await this.ctx.redis.info('server');
    const m = /run_id:([0-9a-f]+)/.exec(info);
    if (!m) throw new Error('redis INFO has no run_id');
    return m[1]!;
  }
}
