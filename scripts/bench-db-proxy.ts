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
import { requireNoBenchMessages, seedGroupMemberHashes, seedHistory, seedPopulation } from './bench/seed.ts';
import { openBenchStorage, openTargetStorage, type BenchStorage } from './bench/storage.ts';
import { migrate, withDatabase } from '../schema/migrate.ts';
import { startStack, type Stack } from './stack.ts';
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

/** Where a run's shards are: MariaDB instances, and the SHARD_MAP placing them (empty: all on MYSQL_URL). */
interface Placement {
  instances: number;
  shardMap: string;
}

type RunResult = Omit<Report, 'startedAt' | 'command' | 'environment' | 'options' | 'targets'>;

async function run(opts: BenchOptions, storage: BenchStorage, notes: string[], place: Placement): Promise<RunResult> {
  const cycles = new Map(opts.workloads.map((w) => [w, cycleFor(w, notes)] as const));
  const used = new Set([...cycles.values()].flatMap((c) => c ?? []));
  const pop: Population = { pairs: opts.pairs, groups: used.has('group') ? opts.groups : 0, groupSize: opts.groupSize, groupIdBase: 1 };
  if (opts.target) await requireNoBenchMessages(storage.mysqlUrl, storage.shards, pop);
  await seedPopulation(storage.mysqlUrl, pop, opts.baseline && !opts.target ? baselinePairs(opts.pairs) : []);
  if (opts.target) await seedGroupMemberHashes(storage.redisUrl, storage.keyPrefix, pop);
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
    const target = opts.target;
    for (const workers of target ? [0] : opts.workers) {
      if (aborted) break;
      const launch = async (): Promise<ProxyProcess> => {
        if (target) return runningElsewhere(target.port);
        const p = await startProxy({
          env: {
            MYSQL_URL: storage.mysqlUrl,
            REDIS_URL: storage.redisUrl,
            REDIS_KEY_PREFIX: storage.keyPrefix,
            SHARDS: String(storage.shards),
            SHARD_MAP: place.shardMap,
            DB_PROXY_WORKERS: String(workers),
          },
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
            if (workload === 'single' && opts.baseline && !target && place.instances === 1 && !baseline.has(inFlight)) {
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
              host: target?.host ?? '127.0.0.1',
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
            // A target gets the handshake it expects: CLUSTER_SECRET from the environment, none for TeamTalk's.
            const secret = target ? (process.env.CLUSTER_SECRET ?? null) : undefined;
            const gen = await runGenerator(
              cfg,
              opts.durationS * 1000 + opts.timeoutMs + 120_000,
              () => {
                cpu0 = proxy.cpuSeconds();
                t0 = performance.now();
              },
              secret,
            );
            const died = proxy.exit();
            if (died !== null) notes.push(`db-proxy (workers=${workers}) exited (${died}) during the ${workload} point at ${shape.connections * shape.window} in flight; see its stderr above`);
            const proxyCpuPct = died !== null || target ? -1 : Math.round(((proxy.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000)) * 1000) / 10;
            const b = baseline.get(inFlight);
            const ratio = workload === 'single' && b && b.rate > 0 ? Math.round((gen.rate / b.rate) * 1000) / 1000 : null;
            const label = target ? `${target.host}:${target.port}` : 'ours';
            points.push({ workload, target: label, mysqlInstances: place.instances, workers, ...shape, inFlight, gen, proxyCpuPct, ratio });
            for (const e of gen.errors) log(`  generator: ${e}`);
            log(
              `${workload} ${target ? `target ${target.host}:${target.port}` : `workers=${workers}`} mysql=${place.instances} in-flight=${inFlight}: ${gen.rate} req/s p50 ${gen.latency.p50Ms} p99 ${gen.latency.p99Ms} ms, ` +
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
      verified = await verify(storage.mysqlUrl, storage.shards, pop, ackFiles, before!, after, seededRows, place.shardMap);
      // Nothing acked proves nothing; a timeout is a message whose fate the run does not know.
      for (const p of points) {
        if ((p.workload === 'single' || p.workload === 'group') && (p.gen.acks === 0 || p.gen.timeouts > 0)) {
          verified = { ...verified, passed: false, notes: [...verified.notes, `${p.workload} at ${p.inFlight} in flight: ${p.gen.acks} acked, ${p.gen.timeouts} timed out`] };
        }
      }
      log(`verify: ${verified.passed ? 'PASSED' : 'FAILED'} ${JSON.stringify({ ...verified, notes: undefined })}`);
      for (const n of verified.notes) log(`  ${n}`);
    }
    return { baselineMethod: BASELINE_METHOD, baseline: [...baseline.values()], points, verify: verified, notes };
  } finally {
    rmSync(ackDir, { recursive: true, force: true });
  }
}

/** A db-proxy this run did not start (--target): nothing to stop, its CPU unknown. */
function runningElsewhere(port: number): ProxyProcess {
  return { pid: 0, port, exit: () => null, cpuSeconds: () => 0, stop: async () => undefined };
}

/** SHARD_MAP putting shard k on instance k % urls.length (instance 0: MYSQL_URL's server, left unnamed). */
function spread(shards: number, urls: readonly string[]): string {
  const parts: string[] = [];
  for (let k = 0; k < shards; k++) if (k % urls.length !== 0) parts.push(`${k}=${urls[k % urls.length]}`);
  return parts.join(';');
}

/** One pass per MariaDB instance count (each on a fresh database), or one against --target. */
async function runAll(opts: BenchOptions, notes: string[]): Promise<{ result: RunResult; storage: BenchStorage }> {
  if (opts.target) {
    const storage = await openTargetStorage(process.env, opts.shards, log);
    notes.push(`measured ${opts.target.host}:${opts.target.port}, a db-proxy this run did not start (its CPU is not known here; no baseline)`);
    return { result: await run(opts, storage, notes, { instances: 1, shardMap: '' }), storage };
  }
  const merged: RunResult = { baselineMethod: BASELINE_METHOD, baseline: [], points: [], verify: null, notes };
  let last: BenchStorage | null = null;
  for (const instances of opts.mysqlInstances) {
    if (aborted) break;
    const storage = await openBenchStorage(process.env, opts.shards, log);
    const extra: Stack[] = [];
    try {
      for (let i = 1; i < instances; i++) extra.push(await startStack({ dir: mkdtempSync(join(os.tmpdir(), 'tt-bench-mysql-')), ephemeral: true }));
      const urls = [storage.mysqlUrl, ...extra.map((x) => withDatabase(x.mysqlUrl, storage.database))];
      const shardMap = spread(opts.shards, urls);
      if (instances > 1) {
        await migrate({ url: storage.mysqlUrl, shards: opts.shards, shardMap });
        log(`${instances} MariaDB instances: shard k on instance k % ${instances}`);
      }
      const r = await run(opts, storage, notes, { instances, shardMap });
      merged.baseline.push(...r.baseline);
      merged.points.push(...r.points);
      if (r.verify) merged.verify = merged.verify && !merged.verify.passed ? merged.verify : r.verify;
      last = storage;
    } finally {
      for (const x of extra) await x.stop();
      await storage.cleanup(opts.keep);
    }
  }
  return { result: merged, storage: last! };
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!opts) return (console.log(USAGE), 0);
  const startedAt = new Date().toISOString();
  const notes: string[] = [];
  const { result, storage } = await runAll(opts, notes);
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
