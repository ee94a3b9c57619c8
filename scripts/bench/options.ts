/** Command line of `npm run bench:db-proxy`, validated and bounded. */
import { parseArgs } from 'node:util';
import { WORKLOADS, type Workload } from './types.ts';

export interface BenchOptions {
  connections: number;
  window: number;
  /** Total in flight per point; null: one point of connections × window. */
  concurrency: number[] | null;
  durationS: number;
  count: number;
  warmupS: number;
  workloads: Workload[];
  workers: number[];
  verify: boolean;
  keep: boolean;
  out: string;
  pairs: number;
  groups: number;
  groupSize: number;
  shards: number;
  baseline: boolean;
  baselineSlots: number;
  batchMax: number;
  history: number;
  timeoutMs: number;
  cpuProf: boolean;
  /** A db-proxy already running (ours elsewhere, or TeamTalk's db_proxy_server): none is started; MYSQL_URL etc. are its storage. */
  target: { host: string; port: number } | null;
  /** MariaDB instance counts to sweep, the shards spread over them (a fresh database per count). */
  mysqlInstances: number[];
}

export const USAGE = `usage: npm run bench:db-proxy -- [options]
  --workload LIST     single|group|unread|validate|list|mix, comma list (default single)
  --concurrency LIST  total requests in flight per point, e.g. 1,64,256 (sweep)
  --connections N     connections per point, at most (default 8)
  --window N          in flight per connection when no --concurrency (default 32)
  --duration S        seconds per point (default 12)   --count N   requests per point instead
  --warmup S          seconds not measured at the start of a point (default 1; 0 with --count)
  --workers LIST      db-proxy worker counts to sweep, db-proxy restarted per value (default 2)
  --verify            check rows, unread counters and msg-id order after the run
  --out DIR           results folder (default bench-results)
  --keep              keep the database and Redis keys
  --pairs N --groups N --group-size N --shards N --history N (messages per pair for list)
  --no-baseline  --baseline-slots N (default 8)  --batch-max N (default 256)
  --timeout MS        per-request timeout (default 10000)
  --cpu-prof          write db-proxy CPU profiles to <out>/prof
  --target HOST:PORT  measure a db-proxy already running there (ours or TeamTalk's db_proxy_server) instead of
                      starting ours: MYSQL_URL / REDIS_URL / REDIS_KEY_PREFIX must be the storage it uses (its
                      database is seeded, never dropped); CLUSTER_SECRET as it expects (unset for TeamTalk's)
  --mysql-instances LIST  MariaDB instances to spread the shards over, e.g. 1,2,4: per count a fresh database,
                      count-1 private instances started here, SHARD_MAP placing shard k on instance k % count`;

function list(text: string, name: string, min: number, max: number): number[] {
  const values = text.split(',').map((s) => Number(s.trim()));
  for (const v of values) if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name}: ${text} (each ${min}..${max})`);
  return values;
}

function int(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  return list(text, name, min, max)[0]!;
}

export function parseOptions(argv: string[]): BenchOptions | null {
  const strings = ['connections', 'window', 'concurrency', 'duration', 'count', 'warmup', 'workload', 'workers', 'out', 'pairs', 'groups'];
  strings.push('group-size', 'shards', 'baseline-slots', 'batch-max', 'history', 'timeout', 'target', 'mysql-instances');
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const k of strings) options[k] = { type: 'string' };
  for (const k of ['verify', 'keep', 'no-baseline', 'cpu-prof', 'help']) options[k] = { type: 'boolean' };
  const v = parseArgs({ args: argv, options, strict: true }).values as Record<string, string | boolean | undefined>;
  if (v.help) return null;
  const s = (k: string): string | undefined => v[k] as string | undefined;
  const workloads = (s('workload') ?? 'single').split(',').map((w) => w.trim()) as Workload[];
  for (const w of workloads) if (!WORKLOADS.includes(w)) throw new Error(`--workload: unknown ${w} (${WORKLOADS.join('|')})`);
  const count = int(s('count'), 'count', 0, 0, 10_000_000);
  return {
    connections: int(s('connections'), 'connections', 8, 1, 256),
    window: int(s('window'), 'window', 32, 1, 4096),
    concurrency: s('concurrency') === undefined ? null : list(s('concurrency')!, 'concurrency', 1, 65_536),
    durationS: int(s('duration'), 'duration', 12, 1, 600),
    count,
    warmupS: int(s('warmup'), 'warmup', count > 0 ? 0 : 1, 0, 60),
    workloads,
    workers: list(s('workers') ?? '2', 'workers', 0, 64),
    verify: v.verify === true,
    keep: v.keep === true,
    out: s('out') ?? 'bench-results',
    pairs: int(s('pairs'), 'pairs', 1000, 1, 500_000),
    groups: int(s('groups'), 'groups', 50, 1, 100_000),
    groupSize: int(s('group-size'), 'group-size', 20, 2, 1000),
    shards: int(s('shards'), 'shards', 8, 1, 1024),
    baseline: v['no-baseline'] !== true,
    baselineSlots: int(s('baseline-slots'), 'baseline-slots', 8, 1, 256),
    batchMax: int(s('batch-max'), 'batch-max', 256, 1, 10_000),
    history: int(s('history'), 'history', 20, 0, 1000),
    timeoutMs: int(s('timeout'), 'timeout', 10_000, 100, 120_000),
    cpuProf: v['cpu-prof'] === true,
    target: targetOf(s('target')),
    mysqlInstances: list(s('mysql-instances') ?? '1', 'mysql-instances', 1, 8),
  };
}

function targetOf(text: string | undefined): { host: string; port: number } | null {
  if (text === undefined) return null;
  const m = /^([^:\s]+):(\d{1,5})$/.exec(text.trim());
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`--target: ${text} is not host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** The connection count and window of one point of total in flight `c`. */
export function shapeOf(opts: BenchOptions, c: number | null): { connections: number; window: number } {
  if (c === null) return { connections: opts.connections, window: opts.window };
  const connections = Math.min(opts.connections, c);
  return { connections, window: Math.ceil(c / connections) };
}
