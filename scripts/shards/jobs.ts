/** The shard_jobs table (schema/007_shard_jobs.sql): one row per move or split, its checkpoints, its state. */
import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { JobSpec } from './tasks.ts';

export type JobState = 'copying' | 'frozen' | 'flipped' | 'done' | 'aborted' | 'failed';

export interface Job {
  id: number;
  spec: JobSpec;
  state: JobState;
  /** Task key → settled source id. */
  checkpoints: Record<string, number>;
  mapVersion: number;
  message: string;
}

function jobOf(r: RowDataPacket): Job {
  return {
    id: Number(r.id),
    spec: JSON.parse(String(r.spec)) as JobSpec,
    state: String(r.state) as JobState,
    checkpoints: JSON.parse(String(r.checkpoints)) as Record<string, number>,
    mapVersion: Number(r.map_version),
    message: String(r.message),
  };
}

/** The unfinished job (a 'failed' one counts: it can be resumed or aborted), or null. */
export async function openJob(pool: Pool): Promise<Job | null> {
  const [rows] = await pool.query<RowDataPacket[]>("SELECT * FROM shard_jobs WHERE state NOT IN ('done', 'aborted') ORDER BY id DESC LIMIT 1");
  return rows[0] ? jobOf(rows[0]) : null;
}

export async function lastJob(pool: Pool): Promise<Job | null> {
  const [rows] = await pool.query<RowDataPacket[]>('SELECT * FROM shard_jobs ORDER BY id DESC LIMIT 1');
  return rows[0] ? jobOf(rows[0]) : null;
}

export async function createJob(pool: Pool, spec: JobSpec, mapVersion: number): Promise<Job> {
  const [res] = await pool.query("INSERT INTO shard_jobs (kind, spec, state, checkpoints, map_version) VALUES (?, ?, 'copying', '{}', ?)", [
    spec.kind,
    JSON.stringify(spec),
    mapVersion,
  ]);
  return { id: (res as { insertId: number }).insertId, spec, state: 'copying', checkpoints: {}, mapVersion, message: '' };
}

export async function saveJob(pool: Pool, job: Job): Promise<void> {
  await pool.query('UPDATE shard_jobs SET state = ?, checkpoints = ?, message = ? WHERE id = ?', [
    job.state,
    JSON.stringify(job.checkpoints),
    job.message.slice(0, 1024),
    job.id,
  ]);
}
