/**
 * Source against target, per id range: row count and a checksum of every
 * column (BIT_XOR of CRC32 of the row), computed by each server. Rows the
 * target took after a switch (ids above the source's last) are not compared.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { maxSourceId, type Pools } from './copy.ts';
import { COLUMNS, type CopyTask } from './tasks.ts';

export interface RangeDiff {
  from: number;
  to: number;
  source: { rows: number; sum: string };
  target: { rows: number; sum: string };
}

export interface TaskVerdict {
  task: string;
  rows: number;
  ranges: number;
  diffs: RangeDiff[];
}

async function summary(pools: Pools, url: string, table: string, task: CopyTask, from: number, to: number, filtered: boolean): Promise<{ rows: number; sum: string }> {
  const cols = COLUMNS[task.prefix].map((c) => `\`${c}\``).join(', ');
  const filter = filtered && task.filter ? ` AND \`${task.filter.column}\` % ${task.filter.mod} = ${task.filter.rem}` : '';
  const [rows] = await pools
    .get(url)
    .query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n, CAST(COALESCE(BIT_XOR(CRC32(CONCAT_WS('#', ${cols}))), 0) AS CHAR) AS x FROM \`${table}\` WHERE id > ? AND id <= ?${filter}`,
      [from, to],
    );
  return { rows: Number(rows[0]?.n ?? 0), sum: String(rows[0]?.x ?? '0') };
}

/** Compares one task's source and target over ranges of `rangeIds` ids up to the source's last id. */
export async function verifyTask(pools: Pools, task: CopyTask, rangeIds: number, onRange?: (rows: number) => void): Promise<TaskVerdict> {
  const last = await maxSourceId(pools, task);
  const diffs: RangeDiff[] = [];
  let rows = 0;
  let ranges = 0;
  for (let from = 0; from < last; from += rangeIds) {
    const to = Math.min(from + rangeIds, last);
    const [source, target] = await Promise.all([
      summary(pools, task.src.url, task.src.table, task, from, to, true),
      summary(pools, task.dst.url, task.dst.table, task, from, to, false),
    ]);
    ranges++;
    rows += source.rows;
    onRange?.(source.rows);
    if (source.rows !== target.rows || source.sum !== target.sum) diffs.push({ from, to, source, target });
  }
  return { task: task.key, rows, ranges, diffs };
}
