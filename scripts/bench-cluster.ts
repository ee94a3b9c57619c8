/**
 * `npm run bench:cluster` — the whole cluster under load, every part its own
 * process: this orchestrator prepares a fresh database and Redis prefix,
 * seeds users, starts db-proxy, a route-server and two access servers like
 * `npm start` does, then drives load-generator processes through three
 * phases:
 *   1. idle: --idle logged-in connections on access server a; its RSS
 *      before and after, divided by the connections;
 *   2. login storm: the 2 × --pairs users of the pairs log in at once over
 *      both servers (logins/s);
 *   3. messages: each pair's sender sends to its receiver at a paced rate
 *      (one point per --rate); half the pairs cross servers. Reports
 *      delivered msgs/s and send → deliver p50/p99; --verify checks every
 *      acked message was delivered, or stored and counted unread.
 * Loopback only; bounded in count and time. Writes a table, JSON and SVG.
 */
import os from 'node:os';
import { seedPopulation } from './bench/seed.ts';
import { openBenchStorage } from './bench/storage.ts';
import { startCluster, type Cluster } from './bench-cluster/cluster.ts';
import type { GeneratorProcess } from './bench-cluster/generator-process.ts';
import { parseOptions, USAGE, type ClusterBenchOptions } from './bench-cluster/options.ts';
import { deliveryTotals, idlePhase, loginStorm, sendPoint } from './bench-cluster/phases.ts';
import { cpuText, judge, table, targetsText, writeReport, type ClusterReport, type PointSummary } from './bench-cluster/report.ts';
import type { SendResult } from './bench-cluster/types.ts';
import { verifyCluster } from './bench-cluster/verify.ts';
import { findMsgServer } from '../proto/msg-server-lookup.ts';

const log = (m: string): void => console.log(`bench: ${m}`);
let aborted = false;
process.on('SIGINT', () => {
  aborted = true;
  log('interrupted; finishing the current phase, then cleaning up');
});

/** Until the route-server offers an access server (both have registered shortly after). */
async function waitForRegistration(routeHttp: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await findMsgServer(routeHttp, 1000);
      return void (await new Promise((r) => setTimeout(r, 500)));
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no access server registered with the route-server: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

type Measured = Pick<ClusterReport, 'login' | 'idle' | 'points' | 'verify' | 'notes'>;

async function measure(cluster: Cluster, opts: ClusterBenchOptions, storage: Parameters<typeof verifyCluster>[0], out: Measured): Promise<void> {
  await waitForRegistration(cluster.routeHttp);
  if (opts.idle > 0 && !aborted) out.idle = await idlePhase(cluster, opts, 2 * opts.pairs + 1, log);
  if (aborted) return;
  let gens: GeneratorProcess[] = [];
  try {
    const storm = await loginStorm(cluster, opts, log);
    gens = storm.gens;
    out.login = storm.login;
    let last: SendResult[] = [];
    for (const rate of opts.rates) {
      if (aborted) break;
      log(`point: ${rate} msgs/s offered for ${opts.durationS} s ...`);
      const { point, results } = await sendPoint(cluster, gens, opts, rate);
      out.points.push(point);
      last = results;
      log(`  ${point.delivered} delivered/s, p50 ${point.deliver.p50Ms} ms, p99 ${point.deliver.p99Ms} ms, ${point.undelivered} undelivered, ${point.refused} refused, ${point.failed} failed`);
      for (const e of point.errors) log(`  generator: ${e}`);
      for (const p of cluster.all()) if (p.exited() !== null) out.notes.push(`${p.name} exited (${p.exited()}) during the ${rate} msgs/s point`);
    }
    if (opts.verify && last.length > 0) {
      out.verify = await verifyCluster(storage, deliveryTotals(last, out.points));
      log(`verify: ${out.verify.passed ? 'PASSED' : 'FAILED'} ${JSON.stringify({ ...out.verify, notes: undefined })}`);
      for (const n of out.verify.notes) log(`  ${n}`);
    }
  } finally {
    await Promise.all(gens.map((g) => g.close()));
  }
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!opts) return (console.log(USAGE), 0);
  const startedAt = new Date().toISOString();
  const storage = await openBenchStorage(process.env, opts.shards, log);
  const out: Measured = { login: null, idle: null, points: [], verify: null, notes: [] };
  try {
    const users = 2 * opts.pairs + opts.idle;
    log(`seeding ${users} users ...`);
    await seedPopulation(storage.mysqlUrl, { pairs: Math.ceil(users / 2), groups: 0, groupSize: 2, groupIdBase: 1 }, []);
    const storageEnv = { MYSQL_URL: storage.mysqlUrl, REDIS_URL: storage.redisUrl, REDIS_KEY_PREFIX: storage.keyPrefix, SHARDS: String(storage.shards) };
    const cluster = await startCluster(storageEnv, { ACCESS_MAX_CONNECTIONS: String(users + 1000) }, log);
    log(`cluster: db-proxy ${cluster.dbProxy.pid}, route-server ${cluster.route.pid} (${cluster.routeHttp}), access a ${cluster.access[0].pid} :${cluster.servers[0].port}, b ${cluster.access[1].pid} :${cluster.servers[1].port}`);
    try {
      await measure(cluster, opts, storage, out);
    } finally {
      await cluster.stop();
    }
  } finally {
    await storage.cleanup(opts.keep);
  }
  const report: ClusterReport = {
    startedAt,
    command: `npm run bench:cluster -- ${process.argv.slice(2).join(' ')}`.trim(),
    environment: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, mysql: new URL(storage.serverUrl).host, redis: new URL(storage.redisUrl).host },
    options: opts,
    ...out,
    targets: judge(out),
  };
  console.log(`\n${table(out.points)}\n`);
  const l = out.login;
  if (l) console.log(`login storm: ${l.ok} clients in ${l.seconds} s = ${l.rate} logins/s (p50 ${l.latency.p50Ms} ms, p99 ${l.latency.p99Ms} ms); cpu ${cpuText(l.cpuPct)}`);
  const i = out.idle;
  if (i) console.log(`idle: ${i.loggedIn} connections on access server a, ${(i.bytesPerConn / 1024).toFixed(1)} KB RSS each; logins ${i.loginRate}/s on one server, cpu ${cpuText(i.cpuPct)}`);
  for (const n of out.notes) console.log(`note: ${n}`);
  console.log(`targets:\n${targetsText(report.targets)}\n`);
  for (const f of writeReport(opts.out, report)) console.log(`wrote ${f}`);
  const failed = (p: PointSummary): boolean => p.undelivered > 0 || p.duplicates > 0 || p.orderViolations > 0;
  return aborted || (out.verify && !out.verify.passed) || out.points.some(failed) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
