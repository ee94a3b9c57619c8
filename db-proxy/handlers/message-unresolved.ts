import { outcomeCountersOf } from '../outcome-stats.ts';
import { withoutDeadline } from '../storage/deadline.ts';
import type { Outcome, Row } from './message-insert.ts';
import { confirmRow } from './message-readback.ts';
import type { HandlerContext } from './types.ts';

/** Most messages of unknown outcome one worker keeps resolving; past it the oldest are given up (and counted). */
const MAX_UNRESOLVED = 10_000;
const RETRY_MS = 250;

/** Takes back one unread count, never below zero (a read ack may have cleared it meanwhile). */
const UNCOUNT = `
local v = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if v > 0 then return redis.call('HINCRBY', KEYS[1], ARGV[1], -1) end
return 0
`;

/**
 * Messages answered "outcome unknown" (flagged msg_id 0), resolved in the
 * background once storage answers again: each row is confirmed by insert
 * or read-back (confirmRow, with doubt). Stored: its unread count, added
 * when it was sent, stays. Not stored: its count is taken back. A group
 * message's count is left as is (the group total cannot be lowered without
 * lowering members' read marks: one unread too many until the next read,
 * never one too few).
 */
class Unresolved {
  private rows: Row[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly ctx: HandlerContext) {}

  add(rows: readonly Row[]): void {
    const stats = outcomeCountersOf(this.ctx.mysql);
    this.rows.push(...rows);
    stats.add('unresolved', rows.length);
    if (this.rows.length > MAX_UNRESOLVED) {
      const dropped = this.rows.splice(0, this.rows.length - MAX_UNRESOLVED);
      stats.add('unresolved', -dropped.length);
      stats.add('unresolvedDropped', dropped.length);
      this.ctx.log.error({ dropped: dropped.length }, 'messages of unknown outcome given up');
    }
    this.schedule();
  }

  /**
   * Retries one row, as any write: inside the fence, on the map in force
   * (a frozen shard waits; after a move the row goes to the new server).
   * A row that cannot be tried now stays unknown for the next round.
   */
  private async confirm(r: Row): Promise<Outcome> {
    const shard = r.convId % this.ctx.shards;
    let leave: () => void;
    try {
      leave = await this.ctx.fence.enter([shard], FENCE_WAIT_MS);
    } catch {
      return 'unknown';
    }
    try {
      await this.ctx.syncMap();
      if (r.convId % this.ctx.shards !== shard) {
        leave();
        return await this.confirm(r);
      }
      return await confirmRow(this.ctx, this.ctx.mysql.shard(shard), r, true);
    } catch {
      return 'unknown';
    } finally {
      leave();
    }
  }

  private schedule(): void {
    if (this.timer || this.running || this.rows.length === 0) return;
    // Outside any batch: background work has no batch deadline.
    this.timer = withoutDeadline(() => setTimeout(() => void this.round(), RETRY_MS));
    this.timer.unref();
  }

  private async round(): Promise<void> {
    this.timer = null;
    this.running = true;
    const stats = outcomeCountersOf(this.ctx.mysql);
    const rows = this.rows;
    this.rows = [];
    if (this.ctx.mysql.closed) {
      stats.add('unresolved', -rows.length);
      this.running = false;
      return; // shutting down: what is left stays counted, never uncounted while unknown
    }
    try {
      const outcomes = await Promise.all(rows.map((r) => this.confirm(r)));
      const absent: Row[] = [];
      const left: Row[] = [];
      rows.forEach((r, i) => {
        const o = outcomes[i]!;
        if (o === 'unknown') left.push(r);
        else if (o === 'refused') absent.push(r);
      });
      // Rows added while this round ran are already in this.rows (and counted).
      this.rows.unshift(...left);
      const resolved = rows.length - left.length;
      stats.add('unresolved', -resolved);
      stats.add('resolvedStored', resolved - absent.length);
      stats.add('resolvedAbsent', absent.length);
      if (resolved > 0) this.ctx.log.info({ stored: resolved - absent.length, absent: absent.length, left: left.length }, 'messages of unknown outcome resolved');
      await Promise.all(
        absent.filter((r) => !r.group).map((r) => this.ctx.redis.eval(UNCOUNT, 1, `unread_${r.toId}`, String(r.fromId)).catch(() => undefined)),
      );
    } catch (err) {
      this.ctx.log.error({ err }, 'resolving messages of unknown outcome failed');
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}

/** The longest a resolution waits for a shard map freeze; then it is tried again next round. */
const FENCE_WAIT_MS = 1000;

const resolvers = new WeakMap<object, Unresolved>();

/** Hands rows of unknown outcome to the background resolver of `ctx`'s storage (one per MySQL handle). */
export function resolveLater(ctx: HandlerContext, rows: readonly Row[]): void {
  if (rows.length === 0) return;
  let u = resolvers.get(ctx.mysql);
  if (!u) resolvers.set(ctx.mysql, (u = new Unresolved(ctx)));
  u.add(rows);
}
