/**
 * The three phases of the cluster benchmark, each driving load-generator
 * processes: idle connections on one access server (RSS per connection),
 * the login storm of every pair's users over both servers, and the paced
 * message points.
 */
import { performance } from 'node:perf_hooks';
import { Histogram } from '../bench/histogram.ts';
import type { LatencySummary } from '../bench/types.ts';
import { fdLimitOf, type Cluster, type NodeProcess } from './cluster.ts';
import { GeneratorProcess } from './generator-process.ts';
import type { ClusterBenchOptions } from './options.ts';
import type { IdleSummary, LoginSummary, PointSummary } from './report.ts';
import { pairFrom, pairTo, serversOfPair, type GeneratorConfig, type LoginResult, type SendResult } from './types.ts';
import type { DeliveryTotals } from './verify.ts';

/** Sockets one generator process holds in the idle phase. */
const IDLE_PER_GENERATOR = 10_000;
/** File descriptors an access server needs besides its clients (links, Redis, logs, slack). */
const SERVER_FD_RESERVE = 512;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function summary(samplesUs: number[]): LatencySummary {
  const h = new Histogram();
  for (const us of samplesUs) h.record(us);
  return h.summary();
}

/** CPU % of one core of each cluster process from now until the returned function is called. */
function cpuMeter(cluster: Cluster): () => Record<string, number> {
  const procs = cluster.watched();
  const cpu0 = procs.map((p) => p.cpuSeconds());
  const t0 = performance.now();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    return Object.fromEntries(procs.map((p, i) => [p.name, Math.round(((p.cpuSeconds() - cpu0[i]!) / wall) * 1000) / 10]));
  };
}

function baseConfig(cluster: Cluster, opts: ClusterBenchOptions): Omit<GeneratorConfig, 'users' | 'pairs'> {
  return { servers: cluster.servers, clientType: opts.clientType, loginWindow: opts.loginWindow, maxInFlightPerSender: opts.maxInFlightPerSender, receiptAcks: opts.receiptAcks, requestTimeoutMs: 15_000 };
}

function loginTotals(results: LoginResult[]): { ok: number; failed: number; seconds: number; rate: number } {
  const ok = results.reduce((a, r) => a + r.ok, 0);
  const failed = results.reduce((a, r) => a + r.failed, 0);
  const seconds = (Math.max(...results.map((r) => r.endMs)) - Math.min(...results.map((r) => r.startMs))) / 1000;
  return { ok, failed, seconds: Math.round(seconds * 1000) / 1000, rate: seconds > 0 ? Math.round(ok / seconds) : 0 };
}

/** Users firstUid.. logged in to access server a and left idle; RSS of a before and after. */
export async function idlePhase(cluster: Cluster, opts: ClusterBenchOptions, firstUid: number, log: (m: string) => void): Promise<IdleSummary> {
  const server = cluster.access[0];
  const notes: string[] = [];
  const fdLimit = fdLimitOf(server.pid);
  const attempted = Math.min(opts.idle, fdLimit - SERVER_FD_RESERVE);
  if (attempted < opts.idle) notes.push(`capped at ${attempted}: the access server's fd limit is ${fdLimit} (ulimit -n; raise the hard limit to run ${opts.idle})`);
  await sleep(1500);
  const rssBeforeBytes = server.rssBytes();
  const gens: GeneratorProcess[] = [];
  for (let start = 0; start < attempted; start += IDLE_PER_GENERATOR) {
    const users: [number, number][] = [];
    for (let i = start; i < Math.min(attempted, start + IDLE_PER_GENERATOR); i++) users.push([firstUid + i, 0]);
    gens.push(new GeneratorProcess(`idle-gen-${gens.length}`, { ...baseConfig(cluster, opts), users, pairs: [] }, log));
  }
  try {
    log(`idle: logging in ${attempted} connections to access server a (${gens.length} generator processes) ...`);
    const cpu = cpuMeter(cluster);
    const results = await Promise.all(gens.map((g) => g.command<LoginResult>({ cmd: 'login' }, 300_000)));
    const t = loginTotals(results);
    const cpuPct = cpu();
    for (const e of new Set(results.flatMap((r) => r.errors))) notes.push(`login error: ${e}`);
    await sleep(3000);
    const rssAfterBytes = server.rssBytes();
    const bytesPerConn = t.ok > 0 ? Math.round((rssAfterBytes - rssBeforeBytes) / t.ok) : 0;
    log(`idle: ${t.ok} logged in (${t.failed} failed) at ${t.rate}/s; RSS ${mb(rssBeforeBytes)} → ${mb(rssAfterBytes)} MB, ${(bytesPerConn / 1024).toFixed(1)} KB each`);
    return { requested: opts.idle, attempted, loggedIn: t.ok, failed: t.failed, rssBeforeBytes, rssAfterBytes, bytesPerConn, loginRate: t.rate, cpuPct, notes };
  } finally {
    await Promise.all(gens.map((g) => g.close()));
    // Dropping thousands of sessions keeps the server busy (presence, owner keys); the next phase waits for it.
    await quiet(server, log);
  }
}

/** Waits until a process uses under 10% of a core over half a second (at most 60 s). */
async function quiet(p: NodeProcess, log: (m: string) => void): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (let before = p.cpuSeconds(); performance.now() < deadline; ) {
    await sleep(500);
    const now = p.cpuSeconds();
    if (now - before < 0.05) return;
    before = now;
  }
  log(`${p.name} still busy after 60 s`);
}

const mb = (b: number): string => (b / 1048576).toFixed(1);

/** Starts the pair generators (pair p goes to generator p % n) and logs every user in at once. */
export async function loginStorm(cluster: Cluster, opts: ClusterBenchOptions, log: (m: string) => void): Promise<{ gens: GeneratorProcess[]; login: LoginSummary }> {
  const gens: GeneratorProcess[] = [];
  for (let g = 0; g < opts.generators; g++) {
    const pairs: number[] = [];
    const users: [number, number][] = [];
    for (let p = g; p < opts.pairs; p += opts.generators) {
      const [sa, sb] = serversOfPair(p);
      pairs.push(p);
      users.push([pairFrom(p), sa], [pairTo(p), sb]);
    }
    gens.push(new GeneratorProcess(`gen-${g}`, { ...baseConfig(cluster, opts), users, pairs }, log));
  }
  log(`login storm: ${2 * opts.pairs} clients over two access servers from ${gens.length} generator processes ...`);
  const cpu = cpuMeter(cluster);
  const results = await Promise.all(gens.map((g) => g.command<LoginResult>({ cmd: 'login' }, 300_000)));
  const t = loginTotals(results);
  const login = { clients: 2 * opts.pairs, ...t, cpuPct: cpu(), latency: summary(results.flatMap((r) => r.latencyUs)), errors: [...new Set(results.flatMap((r) => r.errors))] };
  log(`login storm: ${t.ok} in ${t.seconds} s = ${t.rate} logins/s, p99 ${login.latency.p99Ms} ms, ${t.failed} failed`);
  return { gens, login };
}

/** One paced point on every generator at once; CPU of each cluster process over the point. */
export async function sendPoint(cluster: Cluster, gens: GeneratorProcess[], opts: ClusterBenchOptions, rate: number): Promise<{ point: PointSummary; results: SendResult[] }> {
  const cpu = cpuMeter(cluster);
  const cmd = { cmd: 'send', rate: rate / gens.length, durationMs: opts.durationS * 1000, warmupMs: opts.warmupS * 1000, drainMs: 15_000 } as const;
  const results = await Promise.all(gens.map((g) => g.command<SendResult>(cmd, opts.durationS * 1000 + 60_000)));
  const cpuPct = cpu();
  results.forEach((r, i) => (cpuPct[`gen-${i}`] = r.cpuPct));
  const sum = (k: keyof SendResult): number => results.reduce((a, r) => a + (r[k] as number), 0);
  const measuredS = results[0]!.measuredMs / 1000;
  const point: PointSummary = {
    offered: rate,
    delivered: Math.round(sum('measuredDelivered') / measuredS),
    sent: sum('sent'),
    acked: sum('acked'),
    refused: sum('refused'),
    failed: sum('failed'),
    skipped: sum('skipped'),
    undelivered: sum('undelivered'),
    duplicates: sum('duplicates'),
    orderViolations: sum('orderViolations'),
    deliver: summary(results.flatMap((r) => r.deliverUs)),
    ack: summary(results.flatMap((r) => r.ackUs)),
    cpuPct,
    errors: [...new Set(results.flatMap((r) => r.errors))],
  };
  return { point, results };
}

/** What --verify needs from the generators' last answers (their per-pair counts are cumulative). */
export function deliveryTotals(last: SendResult[], all: PointSummary[]): DeliveryTotals {
  return {
    ackedPerPair: new Map(last.flatMap((r) => r.ackedPerPair)),
    undelivered: last.reduce((a, r) => a + r.undelivered, 0),
    duplicates: all.reduce((a, p) => a + p.duplicates, 0),
    orderViolations: all.reduce((a, p) => a + p.orderViolations, 0),
    undeliveredSample: last.flatMap((r) => r.undeliveredSample),
  };
}
