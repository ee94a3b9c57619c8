import type { Redis } from 'ioredis';
import type { Row } from './message-insert.ts';
import type { HandlerContext } from './types.ts';
import { groupKeys } from './group-members.ts';
import { groupRebuildMarkKey, rebuildMarkKey, withUnreadScripts, type UnreadRedis } from './unread-counters.ts';

const SESSION_SINGLE = 1;
const SESSION_GROUP = 2;

/**
 * Sessions and groups this worker already stamped in the current second:
 * stamping them again would write the same `updated`. Bounded; cleared when
 * full. (A session removed and messaged again within the same second stays
 * hidden until its next message: `updated` has one-second resolution anyway.)
 */
const stamped = new Map<string, number>();
const STAMPED_MAX = 100_000;

function fresh(key: string, now: number): boolean {
  return stamped.get(key) !== now;
}

function stamp(keys: Iterable<string>, now: number): void {
  if (stamped.size > STAMPED_MAX) stamped.clear();
  for (const k of keys) stamped.set(k, now);
}

/**
 * Recent sessions of stored messages: both sides of a one-to-one chat, the
 * sender of a group message (TeamTalk's rule). One upsert per batch, rows in
 * key order so concurrent batches take locks in the same order; sessions
 * already stamped this second are skipped.
 */
export async function touchSessions(ctx: HandlerContext, rows: readonly Row[], now: number): Promise<void> {
  const keys = new Map<string, [number, number, number]>();
  const groups = new Set<number>();
  const add = (u: number, p: number, t: number): void => {
    const k = `${u}:${p}:${t}`;
    if (fresh(k, now)) keys.set(k, [u, p, t]);
  };
  for (const r of rows) {
    if (r.group) {
      add(r.fromId, r.toId, SESSION_GROUP);
      if (fresh(`g${r.toId}`, now)) groups.add(r.toId);
    } else {
      add(r.fromId, r.toId, SESSION_SINGLE);
      add(r.toId, r.fromId, SESSION_SINGLE);
    }
  }
  if (keys.size === 0 && groups.size === 0) return;
  const list = [...keys.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  try {
    if (list.length > 0) {
      await withDeadlockRetry(() =>
        ctx.mysql.query(
          ctx.mysql.main,
          `INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES ${list
            .map(() => '(?, ?, ?, 0, ?, ?)')
            .join(', ')} ON DUPLICATE KEY UPDATE status = 0, updated = VALUES(updated)`,
          list.flatMap(([u, p, t]) => [u, p, t, now, now]),
        ),
      );
      stamp(keys.keys(), now);
    }
    if (groups.size > 0) {
      const ids = [...groups].sort((a, b) => a - b);
      await ctx.mysql.query(ctx.mysql.main, `UPDATE IMGroup SET lastChated = ? WHERE id IN (${ids.map(() => '?').join(', ')})`, [now, ...ids]);
      stamp(ids.map((g) => `g${g}`), now);
    }
  } catch (err) {
    // The messages are committed; a stale session list is not worth refusing them.
    ctx.log.warn({ err }, 'recent session update failed');
  }
}

async function withDeadlockRetry<T>(fn: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const errno = (err as { cause?: { errno?: number } }).cause?.errno;
      if (i >= tries || (errno !== 1213 && errno !== 1205)) throw err;
    }
  }
}

/** Defines the counter scripts on `redis` (once; context creation does it up front). */
export function withGroupBump(redis: Redis): Redis {
  return withUnreadScripts(redis);
}

/**
 * Unread counters of messages being stored: one HINCRBY per (receiver,
 * sender) pair, one script per group. Sent beside the INSERT so that the
 * answer waits for one round trip less; rows whose insert fails are taken
 * back out by `uncountRows`. A crash in between leaves a count too high,
 * never a stored message uncounted. Redis errors are logged, not raised: the
 * messages' fate is decided by MySQL alone. `rebuilding` (from the id
 * allocation) sends one-to-one counts through the rebuild's marks.
 */
export async function countRows(ctx: HandlerContext, rows: readonly Row[], rebuilding = false): Promise<void> {
  if (rows.length === 0) return;
  withUnreadScripts(ctx.redis);
  const { single, groups } = tally(rows);
  const pipe = ctx.redis.pipeline();
  bumpSingles(ctx, pipe, single, 1, rebuilding);
  const scripts = pipe as unknown as UnreadRedis;
  for (const [groupId, g] of groups) {
    const users = [...g.lastBy];
    void scripts.groupBump(
      2 + users.length,
      groupKeys.total(groupId),
      groupRebuildMarkKey(groupId),
      ...users.map(([u]) => groupKeys.read(u, groupId)),
      g.n,
      g.minId,
      ...users.map(([, pos]) => pos),
      ...users.map(([u]) => u),
    );
  }
  await execLogged(ctx, pipe, rows.length, 'unread counters not updated');
}

/** Takes back the counts of rows that were counted but not stored. */
export async function uncountRows(ctx: HandlerContext, rows: readonly Row[], rebuilding = false): Promise<void> {
  if (rows.length === 0) return;
  const { single, groups } = tally(rows);
  const pipe = ctx.redis.pipeline();
  bumpSingles(ctx, pipe, single, -1, rebuilding);
  withUnreadScripts(ctx.redis);
  for (const [groupId, g] of groups) void (pipe as unknown as UnreadRedis).groupUncount(groupKeys.total(groupId), groupRebuildMarkKey(groupId), g.n, g.minId);
  await execLogged(ctx, pipe, rows.length, 'unread counters of unstored messages not taken back');
}

type Single = [to: number, from: number, n: number, minMsgId: number];
/** A group's messages in the batch: how many, the smallest id, each sender's position (1..n) of its last one. */
interface GroupTally {
  n: number;
  minId: number;
  lastBy: Map<number, number>;
}

function bumpSingles(ctx: HandlerContext, pipe: ReturnType<Redis['pipeline']>, single: readonly Single[], sign: 1 | -1, rebuilding: boolean): void {
  if (!rebuilding) {
    for (const [to, from, n] of single) pipe.hincrby(`unread_${to}`, String(from), sign * n);
    return;
  }
  withUnreadScripts(ctx.redis);
  const marked = pipe as unknown as UnreadRedis;
  for (const [to, from, n, minId] of single) void marked.unreadBumpMarked(`unread_${to}`, rebuildMarkKey(to), from, sign * n, minId);
}

function tally(rows: readonly Row[]): {
  single: Single[];
  groups: Map<number, GroupTally>;
} {
  const single = new Map<string, Single>();
  const groups = new Map<number, GroupTally>();
  for (const r of rows) {
    if (r.group) {
      let g = groups.get(r.toId);
      if (!g) groups.set(r.toId, (g = { n: 0, minId: r.msgId, lastBy: new Map() }));
      g.n++;
      g.minId = Math.min(g.minId, r.msgId);
      g.lastBy.set(r.fromId, g.n);
    } else {
      const key = `${r.toId}:${r.fromId}`;
      const c = single.get(key);
      if (c) {
        c[2]++;
        c[3] = Math.min(c[3], r.msgId);
      } else single.set(key, [r.toId, r.fromId, 1, r.msgId]);
    }
  }
  return { single: [...single.values()], groups };
}

async function execLogged(ctx: HandlerContext, pipe: ReturnType<Redis['pipeline']>, rows: number, what: string): Promise<void> {
  try {
    const results = await pipe.exec();
    const failed = results?.filter(([err]) => err) ?? [];
    if (failed.length > 0) ctx.log.error({ err: failed[0]![0], failed: failed.length }, what);
  } catch (err) {
    ctx.log.error({ err, rows }, what);
  }
}
