/**
 * The copy of shard rows from one server to another, by id: chunks of rows
 * with ids above a cursor, inserted with their ids (INSERT IGNORE, so a
 * chunk copied twice is copied once). Message tables only grow, so
 * catching up is copying what is above the cursor again.
 *
 * One subtlety: ids are handed out when a row is inserted, not when it
 * commits, so a row below the cursor can become visible after the cursor
 * passed it. It commits within a transaction's bound or never, so each
 * task keeps a *settled* checkpoint: the cursor as it was `settleMs` ago.
 * Every row at or below it has been seen; the last copy (under the write
 * freeze) and a resumed run start from it.
 */
import mysql from 'mysql2/promise';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { COLUMNS, type CopyTask } from './tasks.ts';
import type { Progress } from './progress.ts';

export interface CopyOptions {
  /** Rows per chunk. */
  chunk: number;
  /** 0: unthrottled. */
  maxRowsPerSec: number;
  /** A chunk insert slower than this, or the target's replica further behind, means the target lags: the copy waits. */
  maxLagMs: number;
  /** Read replicas of target servers, [server URL, replica URL]: the copy waits while one is behind by more than maxLagMs. */
  replicas?: readonly [string, string][];
  settleMs: number;
}

/** Where a task stands. */
export interface TaskState {
  /** Last source id read. */
  cursor: number;
  /** Every source row at or below it has been copied (see above). */
  settled: number;
  /** (cursor, when) samples not yet settled. */
  samples: [number, number][];
  copied: number;
}

export function freshState(settled = 0): TaskState {
  return { cursor: settled, settled, samples: [], copied: 0 };
}

/** One pool per server URL, closed together. */
export class Pools {
  private readonly pools = new Map<string, Pool>();

  get(url: string): Pool {
    let p = this.pools.get(url);
    if (!p) {
      p = mysql.createPool({ uri: url, connectionLimit: 3, connectTimeout: 5000, charset: 'utf8mb4', supportBigNumbers: true });
      this.pools.set(url, p);
    }
    return p;
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(all.map((p) => p.end()));
  }
}

function filterSql(task: CopyTask): { sql: string; values: number[] } {
  if (!task.filter) return { sql: '', values: [] };
  return { sql: ` AND \`${task.filter.column}\` % ? = ?`, values: [task.filter.mod, task.filter.rem] };
}

/** Source rows of `task` above `from` (and up to `to` when given). */
export async function countAbove(pools: Pools, task: CopyTask, from: number, to?: number): Promise<number> {
  const f = filterSql(task);
  const upper = to === undefined ? '' : ' AND id <= ?';
  const [rows] = await pools
    .get(task.src.url)
    .query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${task.src.table}\` WHERE id > ?${upper}${f.sql}`, [from, ...(to === undefined ? [] : [to]), ...f.values]);
  return Number(rows[0]?.n ?? 0);
}

/** The largest source id of `task` (0 when empty). */
export async function maxSourceId(pools: Pools, task: CopyTask): Promise<number> {
  const f = filterSql(task);
  const [rows] = await pools.get(task.src.url).query<RowDataPacket[]>(`SELECT COALESCE(MAX(id), 0) AS m FROM \`${task.src.table}\` WHERE 1${f.sql}`, f.values);
  return Number(rows[0]?.m ?? 0);
}

export class Copier {
  private windowStart = Date.now();
  private windowRows = 0;

  constructor(
    private readonly pools: Pools,
    private readonly opts: CopyOptions,
    private readonly progress: Progress | null,
  ) {}

  /**
   * Copies the rows of `task` above `from` (state.cursor unless given) until
   * none is left (complete) or `deadline` (Date.now() ms) passes. The copy
   * under a write freeze is `unthrottled`: it must end fast.
   */
  async pass(
    task: CopyTask,
    state: TaskState,
    opts: { from?: number; deadline?: number; onChunk?: () => Promise<void>; unthrottled?: boolean } = {},
  ): Promise<{ rows: number; complete: boolean }> {
    const cols = COLUMNS[task.prefix];
    const list = cols.map((c) => `\`${c}\``).join(', ');
    const f = filterSql(task);
    const src = this.pools.get(task.src.url);
    const dst = this.pools.get(task.dst.url);
    let from = opts.from ?? state.cursor;
    let copied = 0;
    let complete = false;
    for (;;) {
      if (opts.deadline !== undefined && Date.now() >= opts.deadline) break;
      const [rows] = await src.query<RowDataPacket[]>(
        `SELECT ${list} FROM \`${task.src.table}\` WHERE id > ?${f.sql} ORDER BY id LIMIT ?`,
        [from, ...f.values, this.opts.chunk],
      );
      if (rows.length === 0) {
        complete = true;
        break;
      }
      const t0 = Date.now();
      await dst.query(`INSERT IGNORE INTO \`${task.dst.table}\` (${list}) VALUES ?`, [rows.map((r) => cols.map((c) => r[c]))]);
      const insertMs = Date.now() - t0;
      from = Number(rows[rows.length - 1]!.id);
      copied += rows.length;
      state.copied += rows.length;
      if (from > state.cursor) {
        state.cursor = from;
        state.samples.push([from, Date.now()]);
      }
      this.settle(state);
      this.progress?.tick(rows.length);
      await opts.onChunk?.();
      if (rows.length < this.opts.chunk) {
        complete = true;
        break;
      }
      if (!opts.unthrottled) {
        await this.throttle(rows.length, insertMs);
        await this.waitForReplica(task.dst.url);
      }
    }
    this.settle(state);
    return { rows: copied, complete };
  }

  /**
   * Copies the source rows of ids in (from, to] the target lacks: ids only
   * are compared (index scans on both sides), then just the missing rows
   * are copied. What the last copy under a freeze does below the cursor,
   * instead of copying the whole settle window again.
   */
  async fillGaps(task: CopyTask, from: number, to: number): Promise<number> {
    if (to <= from) return 0;
    const f = filterSql(task);
    const src = this.pools.get(task.src.url);
    const dst = this.pools.get(task.dst.url);
    const [have, want] = await Promise.all([
      dst.query<RowDataPacket[]>(`SELECT id FROM \`${task.dst.table}\` WHERE id > ? AND id <= ?`, [from, to]),
      src.query<RowDataPacket[]>(`SELECT id FROM \`${task.src.table}\` WHERE id > ? AND id <= ?${f.sql}`, [from, to, ...f.values]),
    ]);
    const present = new Set(have[0].map((r) => Number(r.id)));
    const missing = want[0].map((r) => Number(r.id)).filter((id) => !present.has(id));
    const cols = COLUMNS[task.prefix];
    const list = cols.map((c) => `\`${c}\``).join(', ');
    for (let i = 0; i < missing.length; i += this.opts.chunk) {
      const ids = missing.slice(i, i + this.opts.chunk);
      const [rows] = await src.query<RowDataPacket[]>(`SELECT ${list} FROM \`${task.src.table}\` WHERE id IN (?)`, [ids]);
      if (rows.length > 0) await dst.query(`INSERT IGNORE INTO \`${task.dst.table}\` (${list}) VALUES ?`, [rows.map((r) => cols.map((c) => r[c]))]);
      this.progress?.tick(rows.length);
    }
    return missing.length;
  }

  /** Moves the settled checkpoint up to the newest cursor at least settleMs old. */
  settle(state: TaskState, now = Date.now()): void {
    while (state.samples.length > 0 && now - state.samples[0]![1] >= this.opts.settleMs) {
      state.settled = Math.max(state.settled, state.samples.shift()![0]);
    }
  }

  private replicaCheckedAt = 0;

  /**
   * Waits (checked at most once a second, each wait bounded to 30 s) while the
   * replica of `url`'s server is more than maxLagMs behind, as db-proxy
   * measures it (its heartbeat row); unknown lag does not hold the copy.
   */
  private async waitForReplica(url: string): Promise<void> {
    const replica = this.opts.replicas?.find(([server]) => server === url)?.[1];
    if (!replica || Date.now() - this.replicaCheckedAt < 1000) return;
    this.replicaCheckedAt = Date.now();
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      let lag: number | null = null;
      try {
        const [rows] = await this.pools.get(replica).query<RowDataPacket[]>('SELECT TIMESTAMPDIFF(MICROSECOND, at, NOW(3)) DIV 1000 AS ms FROM replica_heartbeat WHERE id = 1');
        lag = rows[0] ? Number(rows[0].ms) : null;
      } catch {
        lag = null;
      }
      if (lag === null || lag <= this.opts.maxLagMs) return;
      await new Promise((r) => setTimeout(r, Math.min(1000, lag)));
    }
  }

  private async throttle(rows: number, insertMs: number): Promise<void> {
    let waitMs = insertMs > this.opts.maxLagMs ? insertMs : 0;
    if (this.opts.maxRowsPerSec > 0) {
      this.windowRows += rows;
      const due = this.windowStart + (this.windowRows / this.opts.maxRowsPerSec) * 1000;
      waitMs = Math.max(waitMs, due - Date.now());
      if (Date.now() - this.windowStart > 5000) {
        this.windowStart = Date.now();
        this.windowRows = 0;
      }
    }
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
  }
}
