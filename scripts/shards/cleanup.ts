/**
 * `npm run shards -- cleanup`: what the last job left behind at its
 * sources, removed once nothing can read it. A move leaves the shard's old
 * tables on the server it left: they are dropped. A split leaves, in each
 * IMMessage_k, the rows that moved to k+N: they are deleted in chunks
 * (throttled), never the rows k still holds. Only for the last job, when
 * it is done, the map in force is still the one it made (nothing changed
 * since, so no later job made those tables live again), and verify is
 * clean right before.
 */
import type { RowDataPacket } from 'mysql2/promise';
import * as store from '../../db-proxy/storage/shard-map-store.ts';
import { lastJob, saveJob } from './jobs.ts';
import type { ShardEnv } from './run-job.ts';
import { describe, tasksOf, type CopyTask } from './tasks.ts';
import { verifyTask } from './verify.ts';

export interface CleanupOptions {
  dryRun: boolean;
  chunk: number;
  /** 0: unthrottled. */
  maxRowsPerSec: number;
  verifyRange: number;
}

/** The version job `id` put in force (its flip's note names it), or 0. */
async function versionOfJob(env: ShardEnv, id: number): Promise<number> {
  const [rows] = await env.main.query<RowDataPacket[]>('SELECT version FROM shard_map WHERE note LIKE ? ORDER BY version DESC LIMIT 1', [`job ${id}:%`]);
  return Number(rows[0]?.version ?? 0);
}

/** Removes one task's moved rows (a split: by key residue, in chunks) or its whole old table (a move); the rows removed. */
export async function removeMoved(env: ShardEnv, t: CopyTask, opts: CleanupOptions): Promise<number> {
  const pool = env.pools.get(t.src.url);
  if (!t.filter) {
    const [[n]] = (await pool.query(`SELECT COUNT(*) AS n FROM \`${t.src.table}\``)) as unknown as [[{ n: number }]];
    if (!opts.dryRun) await pool.query(`DROP TABLE IF EXISTS \`${t.src.table}\``);
    return Number(n.n);
  }
  const where = `\`${t.filter.column}\` % ${t.filter.mod} = ${t.filter.rem}`;
  if (opts.dryRun) {
    const [[n]] = (await pool.query(`SELECT COUNT(*) AS n FROM \`${t.src.table}\` WHERE ${where}`)) as unknown as [[{ n: number }]];
    return Number(n.n);
  }
  let removed = 0;
  for (;;) {
    const t0 = Date.now();
    const [res] = await pool.query(`DELETE FROM \`${t.src.table}\` WHERE ${where} ORDER BY id LIMIT ${opts.chunk}`);
    const n = (res as { affectedRows: number }).affectedRows;
    removed += n;
    env.progress.tick(n);
    if (n < opts.chunk) return removed;
    if (opts.maxRowsPerSec > 0) {
      const due = (n / opts.maxRowsPerSec) * 1000 - (Date.now() - t0);
      if (due > 0) await new Promise((r) => setTimeout(r, due));
    }
  }
}

/** Runs the cleanup of the last job; the exit code. */
export async function cleanup(env: ShardEnv, opts: CleanupOptions): Promise<number> {
  const job = await lastJob(env.main);
  if (!job) throw new Error('no job to clean up after');
  if (job.state !== 'done') throw new Error(`job ${job.id} (${describe(job.spec)}) is ${job.state}: only a done job is cleaned up after`);
  if (job.message.includes('cleaned up')) {
    env.log(`job ${job.id} was cleaned up after already`);
    return 0;
  }
  const made = await versionOfJob(env, job.id);
  const latest = await store.latestVersion(env.main);
  if (made === 0 || made !== latest) {
    throw new Error(`the shard map changed after job ${job.id} (version ${made} → ${latest}): its sources may be in use again; nothing removed`);
  }
  const tasks = tasksOf(job.spec, await store.mapAt(env.main, env.mainUrl, job.mapVersion));
  for (const t of tasks) {
    const v = await verifyTask(env.pools, t, opts.verifyRange);
    if (v.diffs.length > 0) throw new Error(`${v.task} differs from its source in ${v.diffs.length} range(s): resume or check it before a cleanup`);
  }
  env.progress.start(`cleanup after job ${job.id}`, 0);
  let total = 0;
  for (const t of tasks) {
    const n = await removeMoved(env, t, opts);
    total += n;
    const what = t.filter ? `rows of ${t.src.table} with ${t.filter.column} % ${t.filter.mod} = ${t.filter.rem}` : `table ${t.src.table}`;
    env.log(`${opts.dryRun ? 'would remove' : 'removed'} ${what} (${n.toLocaleString('en')} rows) at its old place`);
  }
  env.progress.finish();
  if (!opts.dryRun) {
    job.message = `${job.message}; cleaned up (${total} rows at the sources)`;
    await saveJob(env.main, job);
  }
  return 0;
}
