/**
 * db-proxy's side of the shard map as data: reads (or seeds) the map in
 * force, follows new versions without a restart, and takes part in write
 * freezes (db-proxy/storage/shard-map-store.ts). It re-reads the control
 * tables every `pollMs` and at once when `npm run shards` publishes on
 * Redis. A db-proxy that could not read them for `leaseMs` holds every
 * write (its map may be old and the tool may already count it gone) until
 * it reads them again.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ErrorCode, ImError } from '../common/errors.ts';
import type { ShardFence } from './storage/shard-fence.ts';
import { mapText, redactUrl, samePlacement, type ShardMap } from './storage/shard-map.ts';
import * as store from './storage/shard-map-store.ts';

export interface FollowerOptions {
  pollMs: number;
  leaseMs: number;
  /** The longest one insert transaction of this db-proxy can take (told to the shard tool). */
  txnMs: number;
  /** Redis channel `npm run shards` publishes on after each change; empty: poll only. */
  channel: string;
}

/** Redis channel of shard map changes, for a key prefix. */
export function shardMapChannel(keyPrefix: string): string {
  return `${keyPrefix}shard_map`;
}

export class ShardMapFollower {
  readonly instanceId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private map: ShardMap | null = null;
  private frozenId = 0;
  private lastOk = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;

  /** `pool` (on the main database) and `subscriber` are the follower's own: close() closes them. */
  constructor(
    private readonly pool: Pool,
    private readonly fence: ShardFence,
    private readonly opts: FollowerOptions,
    private readonly log: Logger,
    private readonly subscriber: Redis | null,
  ) {}

  /** The map in force. */
  get current(): ShardMap {
    if (!this.map) throw new Error('shard map follower not started');
    return this.map;
  }

  /**
   * Reads the map in force; when none is stored, `fromEnv` becomes version 1
   * once `check` passed on it. Refuses a stored map whose shard count is not
   * SHARDS; `check` (the layout check) runs on whichever map is in force.
   * Then follows it.
   */
  async start(fromEnv: ShardMap, envHasMap: boolean, check: (map: ShardMap) => Promise<void>): Promise<ShardMap> {
    const stored = await store.currentMap(this.pool, fromEnv.mainUrl);
    if (stored && stored.shards !== fromEnv.shards) {
      throw new ImError(
        ErrorCode.BAD_CONFIG,
        `SHARDS=${fromEnv.shards}, but the shard map in force (version ${stored.version}) has ${stored.shards} shards: start with SHARDS=${stored.shards}`,
      );
    }
    if (stored && envHasMap && !samePlacement(stored, fromEnv)) {
      this.log.warn(
        { version: stored.version, stored: redactedText(stored), env: redactedText(fromEnv) },
        'SHARD_MAP differs from the shard map in force; the stored map wins (SHARD_MAP only seeds an empty shard_map)',
      );
    }
    await check(stored ?? fromEnv);
    const map = stored ?? (await store.seedMap(this.pool, fromEnv));
    this.apply(map);
    // Seen first, then read: a change that began before this heartbeat is found by the step below; one
    // that begins after it waits for this db-proxy (the tool waits for, and flips only past, every one seen).
    await this.beat();
    await this.step();
    this.lastOk = Date.now();
    this.timer = setInterval(() => this.kick(), Math.max(10, Math.floor(this.opts.pollMs / 2)));
    this.timer.unref();
    if (this.subscriber && this.opts.channel) {
      this.subscriber.on('message', (channel: string) => {
        if (channel === this.opts.channel) this.poll();
      });
      this.subscriber.subscribe(this.opts.channel).catch((err: unknown) => this.log.warn({ err }, 'shard map channel not subscribed; polling only'));
    }
    return map;
  }

  /** Stops following, removes this db-proxy's heartbeat and closes the pool and subscriber it was given. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    // Bounded: a read that hangs (its queries are bounded too) must not hold the shutdown.
    await Promise.race([this.running?.catch(() => undefined), new Promise((r) => setTimeout(r, this.opts.leaseMs).unref())]);
    this.subscriber?.disconnect();
    await store.deregister(this.pool, this.instanceId).catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  private lastPoll = 0;

  /** Every tick: the lease, and a poll when one is due. */
  private kick(): void {
    const now = Date.now();
    if (!this.fence.held && now - this.lastOk > this.opts.leaseMs) {
      this.fence.hold();
      this.log.error({ sinceMs: now - this.lastOk }, 'shard map not readable: writes to every shard held until it is');
    }
    if (now - this.lastPoll >= this.opts.pollMs) this.poll();
  }

  /** Reads the control tables once (a call during a read runs it again after). */
  poll(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.lastPoll = Date.now();
    this.running = this.step()
      .then(
        () => {
          this.lastOk = Date.now();
          if (this.fence.held) {
            this.fence.resume();
            this.log.info('shard map readable again: writes go on');
          }
        },
        (err: unknown) => this.log.warn({ err }, 'shard map poll failed'),
      )
      .finally(() => {
        this.running = null;
        if (this.again && !this.closed) {
          this.again = false;
          this.poll();
        }
      });
  }

  private async step(): Promise<void> {
    await this.follow();
    const f = await store.pendingFreeze(this.pool);
    if (f && f.expiresInMs > 0 && this.frozenId !== f.id && f.mapVersion === this.current.version) {
      try {
        await this.fence.freeze(f.shards, f.expiresInMs);
        this.frozenId = f.id;
        this.log.info({ freeze: f.id, shards: f.shards }, 'writes frozen for a shard map change');
      } catch (err) {
        this.fence.unfreeze();
        this.log.warn({ err, freeze: f.id }, 'writes in flight did not finish within the freeze; not frozen');
      }
    } else if (this.frozenId !== 0 && (!f || f.id !== this.frozenId || f.expiresInMs <= 0)) {
      if (f && f.id === this.frozenId) await store.expireFreeze(this.pool, f.id);
      const ended = await store.freezeById(this.pool, this.frozenId);
      if (ended?.state === 'freezing') return; // another db-proxy's clock of the database disagrees: next poll
      // A flip committed before the freeze ended: the new map is applied before any write goes on.
      await this.follow();
      this.log.info({ freeze: this.frozenId, state: ended?.state ?? 'gone', version: this.current.version }, 'shard map freeze over; writes go on');
      this.frozenId = 0;
      this.fence.unfreeze();
    }
    await this.beat();
  }

  private beat(): Promise<void> {
    const { leaseMs, txnMs } = this.opts;
    return store.heartbeat(this.pool, this.instanceId, { mapVersion: this.current.version, frozenId: this.frozenId, leaseMs, txnMs });
  }

  /** Applies a newer stored version, if there is one. */
  private async follow(): Promise<void> {
    const v = await store.latestVersion(this.pool);
    if (v > this.current.version) this.apply(await store.mapAt(this.pool, this.current.mainUrl, v));
  }

  private apply(map: ShardMap): void {
    const before = this.map;
    this.map = map;
    this.fence.version = map.version;
    if (before && before.version !== map.version) {
      this.log.info({ from: before.version, to: map.version, shards: map.shards, map: redactedText(map) }, 'shard map changed');
    }
  }
}

function redactedText(map: ShardMap): string {
  return mapText({ ...map, shardUrls: map.shardUrls.map(redactUrl) });
}
