/**
 * `npm run bench:shards` — what a shard move and a split cost while chat
 * goes on: db-proxy (its own process) on a fresh database, a forked load
 * generator at a fixed number of messages in flight for the whole run, and
 * halfway through the copy of pre-seeded history `npm run shards` moves
 * shard 0 to a second MariaDB instance (private, started here), then splits
 * N → 2N. Reports each job's copy rate and write freeze, and the throughput
 * the generator saw per 100 ms: the median before the first job, and the
 * lowest and mean during each job. Loopback only, bounded in time.
 *
 *   npm run bench:shards -- [--duration S] [--concurrency N] [--pairs N] [--history N] [--shards N] [--out DIR]
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createContext, whenRedisReady } from '../db-proxy/context.ts';
import { currentMap } from '../db-proxy/storage/shard-map-store.ts';
import { seedHistory, seedPopulation } from './bench/seed.ts';
import { runGenerator, startProxy } from './bench/processes.ts';
import { openBenchStorage } from './bench/storage.ts';
import type { Population } from './bench/types.ts';
import { cycleOf } from './bench/workload.ts';
import { openEnv, runShards } from './shards/cli.ts';
import { lastJob } from './shards/jobs.ts';
import { startStack } from './stack.ts';

const log = (m: string): void => console.log(`bench:shards: ${m}`);

function int(v: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: ${v} (${min}..${max})`);
  return n;
}

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    duration: { type: 'string' },
    concurrency: { type: 'string' },
    pairs: { type: 'string' },
    history: { type: 'string' },
    shards: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log('usage: npm run bench:shards -- [--duration S (40)] [--concurrency N (64)] [--pairs N (1000)] [--history N per pair (100)] [--shards N (4)] [--out DIR]');
  process.exit(0);
}
const durationS = int(values.duration, 'duration', 40, 10, 600);
const concurrency = int(values.concurrency, 'concurrency', 64, 1, 4096);
const pairs = int(values.pairs, 'pairs', 1000, 10, 100_000);
const history = int(values.history, 'history', 100, 0, 10_000);
const shards = int(values.shards, 'shards', 4, 1, 512);
const out = values.out ?? 'bench-results';

interface JobTiming {
  kind: string;
  startMs: number;
  endMs: number;
  message: string;
}

const storage = await openBenchStorage(process.env, shards, log);
const target = await startStack({ dir: mkdtempSync(join(tmpdir(), 'tt-bench-shards-')), ephemeral: true });
const targetUrl = new URL(target.mysqlUrl);
targetUrl.pathname = '/tt_bench_target';
let code = 0;
try {
  const pop: Population = { pairs, groups: 0, groupSize: 2, groupIdBase: 1 };
  await seedPopulation(storage.mysqlUrl, pop, []);
  if (history > 0) {
    const ctx = createContext({ mysqlUrl: storage.mysqlUrl, redisUrl: storage.redisUrl, redisKeyPrefix: storage.keyPrefix, shards, shardMap: '', mysqlConnections: 8, mysqlQueueLimit: 10_000, connectTimeoutMs: 5000, queryTimeoutMs: 20_000, redisCommandTimeoutMs: 5000, logLevel: 'warn' }, pino({ level: 'warn' }));
    await whenRedisReady(ctx, 5000);
    const n = await seedHistory(ctx, pop, history).finally(() => ctx.close());
    log(`seeded ${n.toLocaleString('en')} history messages to copy`);
  }
  const proxy = await startProxy({
    env: { MYSQL_URL: storage.mysqlUrl, REDIS_URL: storage.redisUrl, REDIS_KEY_PREFIX: storage.keyPrefix, SHARDS: String(shards) },
    cpuProfDir: null,
    log,
  });
  const env = await openEnv({ MYSQL_URL: storage.mysqlUrl, REDIS_URL: storage.redisUrl, REDIS_KEY_PREFIX: storage.keyPrefix });
  env.log = (line) => log(line);
  const jobs: JobTiming[] = [];
  let t0 = 0;
  // db-proxy takes 8 handshakes at a time (more are refused): as many links as bench:db-proxy opens.
  const connections = Math.min(8, concurrency);
  const generator = runGenerator(
    {
      host: '127.0.0.1',
      port: proxy.port,
      connections,
      window: Math.ceil(concurrency / connections),
      durationMs: durationS * 1000,
      count: 0,
      warmupMs: 1000,
      timeoutMs: 10_000,
      cycle: cycleOf({ single: 1 }),
      pop,
      ackFile: null,
    },
    durationS * 1000 + 60_000,
    () => (t0 = performance.now()),
  );
  const runJob = async (kind: string, args: string[]): Promise<void> => {
    const startMs = performance.now() - t0;
    const rc = await runShards(args, env);
    const job = await lastJob(env.main);
    jobs.push({ kind, startMs, endMs: performance.now() - t0, message: job?.message ?? '' });
    if (rc !== 0 || job?.state !== 'done') {
      code = 1;
      log(`${kind} ended ${job?.state}: ${job?.message}`);
    }
  };
  while (t0 === 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, durationS * 250));
  await runJob('move shard 0', ['move', '0', targetUrl.toString()]);
  await new Promise((r) => setTimeout(r, 3000));
  await runJob(`split ${shards} -> ${shards * 2}`, ['split']);
  const gen = await generator;
  await proxy.stop();
  const map = await currentMap(env.main, env.mainUrl);
  await env.close();

  // Throughput per 100 ms bucket, as msgs/s.
  const perS = gen.timeline.map((n) => n * 10);
  const bucket = (ms: number): number => Math.floor(ms / 100);
  const median = (xs: number[]): number => (xs.length === 0 ? 0 : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
  const before = perS.slice(bucket(1000), bucket(jobs[0]?.startMs ?? 0));
  const rows = jobs.map((j) => {
    const during = perS.slice(bucket(j.startMs), bucket(j.endMs) + 1);
    return {
      job: j.kind,
      seconds: Math.round(j.endMs - j.startMs) / 1000,
      result: j.message,
      minMsgsPerS: Math.min(...during),
      meanMsgsPerS: Math.round(during.reduce((a, b) => a + b, 0) / Math.max(1, during.length)),
    };
  });
  const baseline = median(before);
  console.log(`\nchat at ${concurrency} in flight, ${shards} shards, ${(pairs * history).toLocaleString('en')} seeded messages; before the jobs: median ${baseline} msgs/s (per 100 ms)`);
  console.log('| job | took s | lowest msgs/s (100 ms) | mean msgs/s | dip (lowest / before) | result |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    console.log(`| ${r.job} | ${r.seconds} | ${r.minMsgsPerS} | ${r.meanMsgsPerS} | ${baseline > 0 ? Math.round((r.minMsgsPerS / baseline) * 100) : 0}% | ${r.result} |`);
  }
  console.log(`generator: ${gen.ok} acked, ${gen.failed} failed, ${gen.timeouts} timeouts, ${gen.orderViolations} order violations, ${gen.cpuPct}% cpu; map now version ${map?.version} with ${map?.shards} shards`);
  if (gen.orderViolations > 0 || gen.timeouts > 0) code = 1;
  mkdirSync(out, { recursive: true });
  const file = join(out, `shards-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ durationS, concurrency, pairs, history, shards, baselineMsgsPerS: baseline, jobs: rows, generator: { ...gen, timeline: undefined }, timeline: perS }, null, 2));
  log(`wrote ${file}`);
} catch (err) {
  code = 1;
  log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  await target.stop();
  await storage.cleanup(false);
}
process.exit(code);
