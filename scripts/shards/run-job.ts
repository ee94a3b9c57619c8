/**
 * A move or a split, online: copy while chat goes on, catch up by id,
 * freeze the shards' writes (every live db-proxy acknowledges; bounded),
 * copy the last rows from the settled checkpoints, flip the map in the same
 * transaction that ends the freeze, then sweep and verify. Checkpoints are
 * saved as it goes: a killed run resumes (a freeze it left expires alone).
 */
import type { Pool } from 'mysql2/promise';
import type { Redis } from 'ioredis';
import { shardMapChannel } from '../../db-proxy/shard-follower.ts';
import { hostsOf, type ShardMap } from '../../db-proxy/storage/shard-map.ts';
import * as store from '../../db-proxy/storage/shard-map-store.ts';
import { onLockedDatabase, prepareShardHost, SCHEMA_DIR } from '../../schema/migrate.ts';
import { createShardTable, recordShardCount, SHARD_TEMPLATES } from '../../schema/shards.ts';
import { Copier, countAbove, freshState, type CopyOptions, type Pools, type TaskState } from './copy.ts';
import { saveJob, type Job } from './jobs.ts';
import type { Progress } from './progress.ts';
import { describe, frozenShards, mapAfter, tasksOf, type CopyTask } from './tasks.ts';
import { verifyTask, type TaskVerdict } from './verify.ts';

export interface RunOptions extends CopyOptions {
  /** Bound of one write freeze (its expires_at). */
  freezeMs: number;
  /** A db-proxy not seen for this long is gone (longer than db-proxy's DB_PROXY_MAP_LEASE_MS). */
  liveMs: number;
  /** Freezes tried before the job fails. */
  attempts: number;
  /** Ids per verify range. */
  verifyRange: number;
  /** Called after each copied chunk (tests stop a run here). */
  onChunk?: () => void;
}

export interface ShardEnv {
  main: Pool;
  mainUrl: string;
  pools: Pools;
  /** Publishes map changes to db-proxies at once; null: they see them at their next poll. */
  redis: Redis | null;
  keyPrefix: string;
  log: (line: string) => void;
  progress: Progress;
  /** Read replicas, [server URL, replica URL] (MYSQL_REPLICA_URL, MYSQL_REPLICAS as db-proxy has them): status shows their lag. */
  replicas: [string, string][];
}

export interface JobReport {
  /** Milliseconds from asking the freeze to the committed flip, per attempt that flipped. */
  freezeMs: number | null;
  /** Attempts that did not flip, with why. */
  failedFreezes: string[];
  copied: number;
  copyRowsPerSec: number;
  version: number;
  verify: TaskVerdict[];
}

/** A freeze's last copy must end this long before its bound: the flip needs time, and it refuses with less. */
const FLIP_MARGIN_MS = 150;

/** Tells db-proxies at once (they poll anyway): never waited for, a stalled Redis must not hold a freeze. */
function publish(env: ShardEnv): void {
  env.redis?.publish(shardMapChannel(env.keyPrefix), 'changed').catch(() => undefined);
}

/**
 * The settle time: the tool's own, or longer when a db-proxy says one of its
 * insert transactions can take longer (and a margin for the commit itself).
 */
async function settleMsOf(env: ShardEnv, opts: RunOptions): Promise<number> {
  const live = await store.liveInstances(env.main, opts.liveMs);
  return Math.max(opts.settleMs, ...live.map((i) => i.txnMs + 1000));
}

/**
 * Lifts each target table's AUTO_INCREMENT to its source's: rows written
 * there after the flip must never take an id a source row still waiting to
 * be copied (a straggler) has.
 */
async function liftAutoIncrement(env: ShardEnv, tasks: CopyTask[]): Promise<void> {
  for (const t of tasks) {
    const [[row]] = (await env.pools
      .get(t.src.url)
      .query('SELECT AUTO_INCREMENT AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [t.src.table])) as unknown as [[{ n: number | null }?]];
    const n = Number(row?.n ?? 0);
    if (n > 0) await env.pools.get(t.dst.url).query(`ALTER TABLE \`${t.dst.table}\` AUTO_INCREMENT = ${Math.floor(n)}`);
  }
}

/** Target tables ready: a move's target gets its shards' tables and the count; a split's new tables wait for the flip to record 2N. */
async function prepareTargets(job: Job, map: ShardMap, tasks: CopyTask[]): Promise<void> {
  if (job.spec.kind === 'move') {
    await prepareShardHost(job.spec.target, map.shards, [job.spec.shard]);
    return;
  }
  for (const t of tasks) {
    const template = SHARD_TEMPLATES.find((x) => x.prefix === t.prefix)!;
    const index = Number(t.dst.table.slice(t.prefix.length + 1));
    await onLockedDatabase(t.dst.url, (conn) => createShardTable(conn, SCHEMA_DIR, template, index));
  }
}

async function refuseNonEmptyTargets(env: ShardEnv, tasks: CopyTask[]): Promise<void> {
  for (const t of tasks) {
    const [rows] = await env.pools.get(t.dst.url).query(`SELECT 1 FROM \`${t.dst.table}\` LIMIT 1`);
    if ((rows as unknown[]).length > 0) {
      throw new Error(`${t.key} already holds rows: a job starts on empty targets (drop them, or resume the job that filled them)`);
    }
  }
}

export async function runJob(env: ShardEnv, job: Job, opts: RunOptions): Promise<JobReport> {
  const base = await store.mapAt(env.main, env.mainUrl, job.mapVersion);
  const tasks = tasksOf(job.spec, base);
  const settleMs = await settleMsOf(env, opts);
  const copier = new Copier(env.pools, { ...opts, settleMs, replicas: env.replicas }, env.progress);
  const states = new Map<string, TaskState>(tasks.map((t) => [t.key, freshState(job.checkpoints[t.key] ?? 0)]));
  const report: JobReport = { freezeMs: null, failedFreezes: [], copied: 0, copyRowsPerSec: 0, version: job.mapVersion, verify: [] };
  let lastSave = 0;
  const checkpoint = async (force = false): Promise<void> => {
    opts.onChunk?.();
    if (!force && Date.now() - lastSave < 1000) return;
    lastSave = Date.now();
    for (const t of tasks) job.checkpoints[t.key] = states.get(t.key)!.settled;
    await saveJob(env.main, job);
  };

  if (job.state !== 'flipped') {
    const now = await store.currentMap(env.main, env.mainUrl);
    if (now?.version !== job.mapVersion) {
      throw new Error(`the shard map changed under the job (version ${job.mapVersion} → ${now?.version}): abort it and plan again`);
    }
    env.log(`${describe(job.spec)}: job ${job.id}, map version ${job.mapVersion}, ${tasks.length} tables`);
    await prepareTargets(job, base, tasks);
    if (Object.keys(job.checkpoints).length === 0) await refuseNonEmptyTargets(env, tasks);
    job.state = 'copying';
    await saveJob(env.main, job);

    // Copy, then catch up while chat goes on.
    let total = 0;
    for (const t of tasks) total += await countAbove(env.pools, t, states.get(t.key)!.cursor);
    env.progress.start(`copy job ${job.id}`, total);
    const t0 = Date.now();
    for (let round = 0; round < 50; round++) {
      let n = 0;
      for (const t of tasks) n += (await copier.pass(t, states.get(t.key)!, { onChunk: () => checkpoint() })).rows;
      if (n < opts.chunk) break;
    }
    const copied = env.progress.rows;
    env.progress.finish();
    report.copied = copied;
    report.copyRowsPerSec = Math.round(copied / Math.max(0.001, (Date.now() - t0) / 1000));
    await checkpoint(true);
    env.log(`copied ${copied.toLocaleString('en')} rows at ${report.copyRowsPerSec.toLocaleString('en')} rows/s; freezing ${frozenShards(job.spec).join(',')}`);

    const flipped = await freezeAndFlip(env, job, base, tasks, states, copier, opts, report, checkpoint);
    if (!flipped) {
      job.state = 'failed';
      job.message = `no freeze flipped: ${report.failedFreezes.join('; ')}`;
      await checkpoint(true);
      throw new Error(job.message);
    }
  }

  // After the flip: the new tables' count, stragglers, verify.
  if (job.spec.kind === 'split') {
    const after = await store.currentMap(env.main, env.mainUrl);
    for (const host of hostsOf(after!)) await onLockedDatabase(host.url, (conn) => recordShardCount(conn, after!.shards));
  }
  await new Promise((r) => setTimeout(r, settleMs));
  for (const t of tasks) await copier.pass(t, states.get(t.key)!, { from: states.get(t.key)!.settled });
  await checkpoint(true);
  env.log('verifying');
  for (const t of tasks) {
    let verdict = await verifyTask(env.pools, t, opts.verifyRange);
    if (verdict.diffs.length > 0) {
      // A source row the target lacks (it committed after its copy): copied now, then verified again.
      let filled = 0;
      for (const d of verdict.diffs) filled += await copier.fillGaps(t, d.from, d.to);
      env.log(`${t.key}: ${verdict.diffs.length} range(s) differed; ${filled} missing row(s) copied; verifying again`);
      verdict = await verifyTask(env.pools, t, opts.verifyRange);
    }
    report.verify.push(verdict);
  }
  const bad = report.verify.filter((v) => v.diffs.length > 0);
  // A job that flipped stays 'flipped' until verify is clean: resume sweeps and verifies again; abort refuses it.
  job.state = bad.length === 0 ? 'done' : 'flipped';
  const numbers = `writes frozen ${report.freezeMs ?? '?'} ms; ${report.copied} rows copied at ${report.copyRowsPerSec} rows/s`;
  job.message = bad.length === 0 ? `verified; ${numbers}` : `verify: ${bad.map((v) => `${v.task} differs in ${v.diffs.length} range(s)`).join('; ')}; ${numbers}`;
  await saveJob(env.main, job);
  report.version = (await store.latestVersion(env.main)) || job.mapVersion;
  return report;
}

/** Tries freezes until one flips; false when every attempt failed. */
async function freezeAndFlip(
  env: ShardEnv,
  job: Job,
  base: ShardMap,
  tasks: CopyTask[],
  states: Map<string, TaskState>,
  copier: Copier,
  opts: RunOptions,
  report: JobReport,
  checkpoint: (force?: boolean) => Promise<void>,
): Promise<boolean> {
  for (let attempt = 1; attempt <= opts.attempts; attempt++) {
    for (const t of tasks) await copier.pass(t, states.get(t.key)!);
    const asked = Date.now();
    const f = await store.beginFreeze(env.main, frozenShards(job.spec), opts.freezeMs);
    publish(env);
    const deadline = asked + opts.freezeMs - FLIP_MARGIN_MS;
    try {
      await store.waitFrozen(env.main, f.id, { liveMs: opts.liveMs, timeoutMs: Math.max(50, deadline - Date.now()), pollMs: 5 });
      let complete = true;
      for (const t of tasks) {
        const st = states.get(t.key)!;
        // Below the cursor only ids not yet visible at their copy can be missing; above it, all is new.
        await copier.fillGaps(t, st.settled, st.cursor);
        const r = await copier.pass(t, st, { deadline, unthrottled: true });
        complete &&= r.complete;
      }
      if (!complete) throw new Error(`the last rows did not fit in the ${opts.freezeMs} ms freeze`);
      await liftAutoIncrement(env, tasks);
      const next = mapAfter(job.spec, base);
      await store.flip(env.main, { freezeId: f.id, baseVersion: job.mapVersion, next, note: `job ${job.id}: ${describe(job.spec)}`, marginMs: 50, liveMs: opts.liveMs, jobId: job.id });
      report.freezeMs = Date.now() - asked;
      publish(env);
      job.state = 'flipped';
      await checkpoint(true);
      env.log(`flipped to map version ${await store.latestVersion(env.main)}: writes were frozen ${report.freezeMs} ms`);
      return true;
    } catch (err) {
      await store.releaseFreeze(env.main, f.id).catch(() => undefined);
      publish(env);
      const why = err instanceof Error ? err.message : String(err);
      report.failedFreezes.push(`attempt ${attempt}: ${why}`);
      env.log(`freeze attempt ${attempt} released: ${why}`);
      // A db-proxy killed without a goodbye counts as live until its lease (and a margin) ran out: wait that out.
      if (attempt < opts.attempts) await new Promise((r) => setTimeout(r, Math.min(8000, 1000 * 2 ** (attempt - 1))));
    }
  }
  return false;
}
