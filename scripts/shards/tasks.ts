/**
 * What a move or a split copies: one task per shard table, each from a
 * source table (filtered for a split) to a target table, rows keeping their
 * ids. Plain data, so a job can be stored and resumed.
 */
import { redactUrl, type ShardMap } from '../../db-proxy/storage/shard-map.ts';

export type Prefix = 'IMMessage' | 'IMGroupMessage';

/** Columns of each shard table, in the order they are copied and checksummed. */
export const COLUMNS: Record<Prefix, readonly string[]> = {
  IMMessage: ['id', 'relateId', 'fromId', 'toId', 'msgId', 'content', 'type', 'status', 'updated', 'created'],
  IMGroupMessage: ['id', 'groupId', 'userId', 'msgId', 'content', 'type', 'status', 'updated', 'created'],
};

const KEY_COLUMN: Record<Prefix, string> = { IMMessage: 'relateId', IMGroupMessage: 'groupId' };

export interface CopyTask {
  /** `<target table>@<target server, password redacted>`: the task's name in checkpoints and output. */
  key: string;
  prefix: Prefix;
  src: { url: string; table: string };
  dst: { url: string; table: string };
  /** Only rows whose key column % mod = rem (a split). */
  filter: { column: string; mod: number; rem: number } | null;
}

export interface MoveSpec {
  kind: 'move';
  shard: number;
  target: string;
}

export interface SplitSpec {
  kind: 'split';
  /** N before; after, 2N. */
  from: number;
  /** Server of each new shard k+N (by k+N); the server of k when not named. */
  place: Record<number, string>;
}

export type JobSpec = MoveSpec | SplitSpec;

const PREFIXES: readonly Prefix[] = ['IMMessage', 'IMGroupMessage'];

function task(prefix: Prefix, src: { url: string; table: string }, dst: { url: string; table: string }, filter: CopyTask['filter']): CopyTask {
  return { key: `${dst.table}@${redactUrl(dst.url)}`, prefix, src, dst, filter };
}

/** The copy tasks of `spec` against `map` (the map in force when the job began). */
export function tasksOf(spec: JobSpec, map: ShardMap): CopyTask[] {
  if (spec.kind === 'move') {
    const from = map.shardUrls[spec.shard]!;
    return PREFIXES.map((p) => task(p, { url: from, table: `${p}_${spec.shard}` }, { url: spec.target, table: `${p}_${spec.shard}` }, null));
  }
  const n = spec.from;
  const out: CopyTask[] = [];
  for (let k = 0; k < n; k++) {
    const to = spec.place[k + n] ?? map.shardUrls[k]!;
    for (const p of PREFIXES) {
      out.push(task(p, { url: map.shardUrls[k]!, table: `${p}_${k}` }, { url: to, table: `${p}_${k + n}` }, { column: KEY_COLUMN[p], mod: 2 * n, rem: k + n }));
    }
  }
  return out;
}

/** The map once `spec` is done. */
export function mapAfter(spec: JobSpec, map: ShardMap): ShardMap {
  if (spec.kind === 'move') {
    const urls = [...map.shardUrls];
    urls[spec.shard] = spec.target;
    return { ...map, shardUrls: urls };
  }
  const n = spec.from;
  const urls = [...map.shardUrls, ...map.shardUrls.map((u, k) => spec.place[k + n] ?? u)];
  return { version: 0, shards: 2 * n, mainUrl: map.mainUrl, shardUrls: urls };
}

/** Shards whose writes a job's final copy freezes. */
export function frozenShards(spec: JobSpec): number[] {
  return spec.kind === 'move' ? [spec.shard] : Array.from({ length: spec.from }, (_, k) => k);
}

/** What a job does, in a line. */
export function describe(spec: JobSpec): string {
  if (spec.kind === 'move') return `move shard ${spec.shard} to ${redactUrl(spec.target)}`;
  const placed = Object.entries(spec.place).map(([k, u]) => `${k} on ${redactUrl(u)}`);
  return `split ${spec.from} shards into ${2 * spec.from}${placed.length > 0 ? ` (${placed.join(', ')})` : ''}`;
}
