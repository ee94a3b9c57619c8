/**
 * `npm run bench:db-proxy` — db-proxy under load, as separate processes:
 * this orchestrator prepares a fresh database and Redis prefix, starts
 * db-proxy (once per --workers value) and forks a load generator per point
 * (workload × requests in flight); it runs the no-protocol baseline itself,
 * optionally verifies storage, and writes a table, JSON and SVG charts.
 * Loopback only, bounded in count and time. `--help` lists the options.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createContext, whenRedisReady, type StorageConfig } from '../db-proxy/context.ts';
import { registry } from '../db-proxy/handlers/index.ts';
import { Cid } from '../proto/commands.ts';
import { baselinePairs, runBaseline, type BaselineResult } from './bench/baseline.ts';
import { parseOptions, shapeOf, USAGE, type BenchOptions } from './bench/options.ts';
import { runGenerator, startProxy, type ProxyProcess } from './bench/processes.ts';
import { judge, table, targetsText, writeReport, type PointResult, type Report } from './bench/report.ts';
import { seedHistory, seedPopulation } from './bench/seed.ts';
import { openBenchStorage, type BenchStorage } from './bench/storage.ts';
import { MIX, OPS, type GeneratorConfig, type Op, type Population, type Workload } from './bench/types.ts';
import { snapshotCounters, verify, type VerifyResult } from './bench/verify.ts';
import { cycleOf } from './bench/workload.ts';

const OP_CID: Record<Op, number> = {
  single: Cid.CID_MSG_DATA,
  group: Cid.CID_MSG_DATA,
  unread: Cid.CID_MSG_UNREAD_CNT_REQUEST,
  validate: Cid.CID_OTHER_VALIDATE_REQ,
  list: Cid.CID_MSG_LIST_REQUEST,
};
const BASELINE_METHOD =
  "db-proxy's own msgData.run (db-proxy/handlers/message-data.ts) in the orchestrator process: same SQL and Redis work " +
  '(relation look-up, msg-id allocation, multi-row INSERT per shard table, recent sessions, HINCRBY unread pipeline), ' +
  'group commit of up to --batch-max messages, --baseline-slots batches at once, no protocol, no sockets, no workers';

const log = (m: string): void => console.log(`bench: ${m}`);
let aborted = false;
process.on('SIGINT', () => {
  aborted = true;
  log('interrupted; cleaning up');
});

function storageConfig(s: BenchStorage): StorageConfig {
  return {
    mysqlUrl: s.mysqlUrl,
    redisUrl: s.redisUrl,
    redisKeyPrefix: s.keyPrefix,
    shards: s.shards,
    shardMap: '',
    mysqlConnections: 8,
    mysqlQueueLimit: 10_000,
    connectTimeoutMs: 5000,
    queryTimeoutMs: 10_000,
    redisCommandTimeoutMs: 5000,
    logLevel: 'warn',
  };
}

/** The op cycle of a workload, restricted to the commands db-proxy answers; null if none. */
function cycleFor(w: Workload, notes: string[]): Op[] | null {
  const has = (op: Op): boolean => registry.has(OP_CID[op]);
  const missing = OPS.filter((op) => !has(op) && (w === 'mix' || w === op));
  if (missing.length > 0) notes.push(`workload ${w}: db-proxy has no handler for ${missing.join(', ')}; ${w === 'mix' ? 'left out of the mix' : 'skipped'}`);
  const weights = w === 'mix' ? Object.fromEntries(OPS.filter(has).map((op) => [op, MIX[op]])) : has(w) ? { [w]: 1 } : {};
  const cycle = cycleOf(weights);
  return cycle.length > 0 ? cycle : null;
}

async function run(opts: BenchOptions, storage: BenchStorage, notes: string[]): Promise<Omit<Report, 'startedAt' | 'command' | 'environment' | 'options' | 'targets'>> {
  const cycles = new Map(opts.workloads.map((w) => [w, cycleFor(w, notes)] as const));
  const used = new Set([...cycles.values()].flatMap((c) => c ?? []));
  const pop: Population = { pairs: opts.pairs, groups: used.has('group') ? opts.groups : 0, groupSize: opts.groupSize, groupIdBase: 1 };
  await seedPopulation(storage.mysqlUrl, pop, opts.baseline ? baselinePairs(opts.pairs) : []);
  let seededRows = 0;
  if (used.has('list') && opts.history > 0) {
    const ctx = createContext(storageConfig(storage), pino({ level: 'warn' }));
    await whenRedisReady(ctx, 5000);
    seededRows = await seedHistory(ctx, pop, opts.history).finally(() => ctx.close());
    log(`seeded ${seededRows} history messages for the list workload`);
  }
  const before = opts.verify ? await snapshotCounters(storage.redisUrl, storage.keyPrefix, pop) : null;
  mkdirSync(opts.out, { recursive: true });
  const ackDir = mkdtempSync(join(opts.out, '.acks-'));
  const ackFiles: string[] = [];
  const points: PointResult[] = [];
  const baseline = new Map<number, BaselineResult>();
  try {
    for (const workers of opts.workers) {
      if (aborted) break;
      const launch = async (): Promise<ProxyProcess> => {
        const p = await startProxy({
          env: { MYSQL_URL: storage.mysqlUrl, REDIS_URL: storage.redisUrl, REDIS_KEY_PREFIX: storage.keyPrefix, SHARDS: String(storage.shards), DB_PROXY_WORKERS: String(workers) },
          cpuProfDir: opts.cpuProf ? resolve(opts.out, 'prof') : null,
          log,
        });
        log(`db-proxy pid ${p.pid} port ${p.port}, ${workers} worker(s)`);
        return p;
      };
      let proxy = await launch();
      try {
        for (const [workload, cycle] of cycles) {
          for (const c of opts.concurrency ?? [null]) {
            if (aborted || cycle === null) continue;
            if (proxy.exit() !== null) proxy = await launch();
            const shape = shapeOf(opts, c);
            const inFlight = shape.connections * shape.window;
            if (workload === 'single' && opts.baseline && !baseline.has(inFlight)) {
              log(`baseline at ${inFlight} in flight ...`);
              const b = await runBaseline({
                storage: storageConfig(storage),
                pairs: opts.pairs,
                concurrency: inFlight,
                durationMs: opts.durationS * 1000,
                warmupMs: opts.warmupS * 1000,
                batchMax: opts.batchMax,
                slots: opts.baselineSlots,
              });
              baseline.set(inFlight, b);
              log(`baseline ${inFlight}: ${b.rate} msgs/s p50 ${b.latency.p50Ms} ms p99 ${b.latency.p99Ms} ms`);
            }
            const ackFile = opts.verify && (cycle.includes('single') || cycle.includes('group')) ? join(ackDir, `${points.length}.acks`) : null;
            if (ackFile) ackFiles.push(ackFile);
            const cfg: GeneratorConfig = {
              host: '127.0.0.1',
              port: proxy.port,
              ...shape,
              durationMs: opts.durationS * 1000,
              count: opts.count,
              warmupMs: opts.warmupS * 1000,
              timeoutMs: opts.timeoutMs,
              cycle,
              pop,
              ackFile,
            };
            let cpu0 = 0;
            let t0 = 0;
            const gen = await runGenerator(cfg, opts.durationS * 1000 + opts.timeoutMs + 120_000, () => {
              cpu0 = proxy.cpuSeconds();
              t0 = performance.now();
            });
            const died = proxy.exit();
            if (died !== null) notes.push(`db-proxy (workers=${workers}) exited (${died}) during the ${workload} point at ${shape.connections * shape.window} in flight; see its stderr above`);
            const proxyCpuPct = died !== null ? -1 : Math.round(((proxy.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000)) * 1000) / 10;
            const b = baseline.get(inFlight);
            const ratio = workload === 'single' && b && b.rate > 0 ? Math.round((gen.rate / b.rate) * 1000) / 1000 : null;
            points.push({ workload, workers, ...shape, inFlight, gen, proxyCpuPct, ratio });
            for (const e of gen.errors) log(`  generator: ${e}`);
            log(
              `${workload} workers=${workers} in-flight=${inFlight}: ${gen.rate} req/s p50 ${gen.latency.p50Ms} p99 ${gen.latency.p99Ms} ms, ` +
                `${gen.failed} failed (${gen.timeouts} timeouts), generator ${gen.cpuPct}% cpu, db-proxy ${proxyCpuPct}% cpu`,
            );
          }
        }
      } finally {
        await proxy.stop();
      }
    }
    let verified: VerifyResult | null = null;
    if (opts.verify && !aborted) {
      const after = await snapshotCounters(storage.redisUrl, storage.keyPrefix, pop);
      verified = await verify(storage.mysqlUrl, storage.shards, pop, ackFiles, before!, after, seededRows);
      log(`verify: ${verified.passed ? 'PASSED' : 'FAILED'} ${JSON.stringify({ ...verified, notes: undefined })}`);
      for (const n of verified.notes) log(`  ${n}`);
    }
    return { baselineMethod: BASELINE_METHOD, baseline: [...baseline.values()], points, verify: verified, notes };
  } finally {
    rmSync(ackDir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!opts) return (console.log(USAGE), 0);
  const startedAt = new Date().toISOString();
  const storage = await openBenchStorage(process.env, opts.shards, log);
  const notes: string[] = [];
  let result;
  try {
    result = await run(opts, storage, notes);
  } finally {
    await storage.cleanup(opts.keep);
  }
  const targets = judge(result.points, result.verify);
  const report: Report = {
    startedAt,
    command: `npm run bench:db-proxy -- ${process.argv.slice(2).join(' ')}`,
    environment: {
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      mysql: new URL(storage.serverUrl).host,
      redis: new URL(storage.redisUrl).host,
      dbProxyEnv: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('DB_PROXY_'))),
    },
    options: opts,
    ...result,
    targets,
  };
  console.log(`\n${table(result.points, result.baseline)}\n\nbaseline: ${BASELINE_METHOD}\n`);
  for (const n of notes) console.log(`note: ${n}`);
  console.log(`targets:\n${targetsText(targets)}\n`);
  for (const f of writeReport(opts.out, report)) console.log(`wrote ${f}`);
  return aborted || (result.verify && !result.verify.passed) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
