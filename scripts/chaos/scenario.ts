/**
 * One scenario: its own users log in, paced load runs, the fault is
 * injected WARM_MS in, load goes on until AFTER_MS past the fault's end
 * (at least the scenario's duration), answers and pushes are awaited
 * (bounded), then every message is verified and the promises judged.
 */
import { pairFrom, pairTo } from '../bench/types.ts';
import { PROC_NAMES, type ChaosCluster, type ProcName } from './cluster.ts';
import { FAULTS, type FaultResult } from './faults.ts';
import { Load, now } from './load.ts';
import type { ChaosOptions, ScenarioName } from './options.ts';
import { ANSWER_TIMEOUT_MS } from './peer.ts';
import { recovery, type Recovery } from './recovery.ts';
import type { ChaosStorage } from './storage.ts';
import { verify, type Verdict } from './verify.ts';

const WARM_MS = 3_000;
const AFTER_MS = 5_000;
/** Hard cap on one scenario's load, whatever its fault does. */
const MAX_LOAD_MS = 240_000;
const QUIET_MS = 2_000;
/** Users beyond its pairs each scenario owns (pairs of users), for its fault's own clients. */
export const EXTRA_PAIRS = 4;
/** Promised bounds. */
export const PROMISE = { answerMs: 1_500, backMs: 1_500, rssGrowth: 0.2, framesP99Ms: 100 } as const;

export interface Memory {
  pid: number;
  beforeBytes: number;
  afterBytes: number;
  /** after / before − 1, null when the process was restarted (another pid). */
  growth: number | null;
}

export interface ScenarioReport {
  name: ScenarioName;
  ms: number;
  fault: Omit<FaultResult, 'faultAt' | 'listenAt' | 'endAt'> & { atMs: number | null; listenAfterMs: number | null } | null;
  verdict: Verdict;
  recovery: Recovery;
  memory: Record<ProcName, Memory>;
  died: string[];
  /** Promises this scenario broke, by name. */
  broken: string[];
  error?: string;
}

export function blockOf(index: number, opts: ChaosOptions): number {
  return index * (opts.pairs + EXTRA_PAIRS);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function judge(r: ScenarioReport): string[] {
  const v = r.verdict;
  const broken: string[] = [];
  const zero: [keyof Verdict, string][] = [
    ['lost', 'acked lost'], ['duplicates', 'duplicates'], ['refusedStored', '"not stored" stored'], ['orderViolations', 'order'],
    ['unpushedUncounted', 'neither pushed nor counted'], ['unpushedOnline', 'acked unpushed to online receiver'], ['unreadWrongPairs', 'unread counters exact'],
  ];
  for (const [k, name] of zero) if ((v[k] as number) > 0) broken.push(name);
  if (r.died.length > 0) broken.push('no process died');
  if (r.fault?.storageOutage && r.recovery.slowestAnswerMs > PROMISE.answerMs) broken.push('answers within 1.5 s');
  if (r.fault?.listenAfterMs != null) {
    if (r.recovery.ackBackMs === null || r.recovery.ackBackMs > PROMISE.backMs) broken.push('acks back within 1.5 s');
    if (r.recovery.pushBackMs === null || r.recovery.pushBackMs > PROMISE.backMs) broken.push('pushes back within 1.5 s');
  }
  for (const [n, m] of Object.entries(r.memory)) if (m.growth !== null && m.growth > PROMISE.rssGrowth) broken.push(`rss of ${n}`);
  const extra = r.fault?.extra ?? {};
  if (r.name === 'frames' && r.recovery.duringFault.p99Ms >= PROMISE.framesP99Ms) broken.push('p99 under 100 ms');
  if (r.name === 'redis-kill' && extra.dupLoginKicked !== true) broken.push('duplicate login kicked');
  if (r.name === 'flood' && (extra.loginProbes as { ok: boolean }[] | undefined)?.some((p) => !p.ok)) broken.push('login during flood');
  if (r.name === 'slow-clients') {
    for (const [k, h] of Object.entries(extra)) if (k.startsWith('trickle') && (h as { closedByServer: number; opened: number }).closedByServer < (h as { opened: number }).opened) broken.push(`${k} dropped`);
  }
  if (r.error) broken.push('scenario ran');
  return broken;
}

export async function runScenario(
  name: ScenarioName,
  index: number,
  env: { cluster: ChaosCluster; storage: ChaosStorage; opts: ChaosOptions; log: (m: string) => void },
): Promise<ScenarioReport> {
  const { cluster, storage, opts, log } = env;
  const t0 = now();
  const base = blockOf(index, opts);
  const load = new Load(name, base, opts.pairs, cluster.servers);
  let fault: FaultResult | null = null;
  let error: string | undefined;
  let died: string[] = [];
  try {
    await load.login();
    let faultDone = false;
    let faultEnd = 0;
    const loadDone = load.run(opts.rate, opts.durationS * 1000, MAX_LOAD_MS, () => faultDone && now() >= faultEnd + AFTER_MS);
    await sleep(WARM_MS);
    // Memory is judged from the fault on: by then every process carries the load's own working
    // set (buffers, V8's young generation grown to the allocation rate), so what stays afterwards
    // is what the fault left behind.
    const before = cluster.rss();
    const ctx = { cluster, storage, opts, log, extraPair: (i: number): [number, number] => [pairFrom(base + opts.pairs + i), pairTo(base + opts.pairs + i)] };
    try {
      fault = await FAULTS[name](ctx);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      log(`${name}: fault failed: ${error}`);
    } finally {
      faultDone = true;
      faultEnd = now();
    }
    await loadDone;
    await load.settle(ANSWER_TIMEOUT_MS + 2_000);
    died = (await cluster.reviveUnexpected(name)).map((n) => `${n} died`);
    const verdict = await verify(load, { mysqlUrl: storage.mysqlUrl, redisUrl: storage.redisUrl, shards: opts.shards });
    const rec = recovery(load, fault);
    load.stop();
    await sleep(QUIET_MS);
    const after = cluster.rss();
    const memory = Object.fromEntries(
      PROC_NAMES.map((n) => {
        const b = before[n];
        const a = after[n];
        return [n, { pid: a.pid, beforeBytes: b.rssBytes, afterBytes: a.rssBytes, growth: a.pid === b.pid && b.rssBytes > 0 ? Math.round((a.rssBytes / b.rssBytes - 1) * 1000) / 1000 : null }];
      }),
    ) as Record<ProcName, Memory>;
    const faultOut = fault && {
      storageOutage: fault.storageOutage,
      extra: fault.extra,
      atMs: Math.round(fault.faultAt - t0),
      listenAfterMs: fault.listenAt === null ? null : Math.round(fault.listenAt - fault.faultAt),
    };
    const report: ScenarioReport = { name, ms: Math.round(now() - t0), fault: faultOut, verdict, recovery: rec, memory, died, broken: [], error };
    report.broken = judge(report);
    return report;
  } finally {
    load.stop();
  }
}
