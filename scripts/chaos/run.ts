/**
 * The chaos run: private storage, schema and users, the cluster, then each
 * scenario in turn (a scenario that fails to run is reported as such and
 * the next one still runs, once the cluster is healthy again). Everything
 * started here is stopped on the way out, also on failure; the caller
 * handles signals.
 */
import os from 'node:os';
import { migrate } from '../../schema/migrate.ts';
import { seedPopulation } from '../bench/seed.ts';
import { ChaosCluster } from './cluster.ts';
import { healthy } from './health.ts';
import type { ChaosOptions } from './options.ts';
import type { ChaosReport } from './report.ts';
import { blockOf, runScenario, type ScenarioReport } from './scenario.ts';
import { ChaosStorage } from './storage.ts';
import { emptyVerdict } from './verify.ts';
import { emptyRecovery } from './recovery.ts';

const WARM_UP_S = 8;

/** Stops what a run started; set while one runs, so a signal handler can call it. */
export let stopRunning: (() => Promise<void>) | null = null;

export async function runChaos(opts: ChaosOptions, log: (m: string) => void, command: string): Promise<ChaosReport> {
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  const storage = await ChaosStorage.start(log);
  let cluster: ChaosCluster | null = null;
  stopRunning = async () => {
    await cluster?.stop();
    await storage.close();
  };
  const scenarios: ScenarioReport[] = [];
  try {
    await migrate({ url: storage.mysqlUrl, shards: opts.shards });
    // Blocks of users: one per scenario, then the health probe's, then the warm-up's.
    const pairs = blockOf(opts.scenarios.length + 2, opts);
    await seedPopulation(storage.mysqlUrl, { pairs, groups: 0, groupSize: 2, groupIdBase: 1 }, []);
    const storageEnv = { MYSQL_URL: storage.mysqlUrl, REDIS_URL: storage.redisUrl, SHARDS: String(opts.shards) };
    cluster = await ChaosCluster.start(storageEnv, log);
    log(`cluster up: ${[...cluster.procs].map(([n, p]) => `${n} pid ${p.pid} :${cluster!.ports.get(n)}`).join(', ')}`);
    const probe = blockOf(opts.scenarios.length, opts);
    // Memory is judged against where each scenario started: the first one starts from a warmed cluster
    // (JIT, pools, worker threads, buffers at their working size), not from a cold start.
    await healthy(cluster, probe, log);
    const warm = await runScenario('baseline', opts.scenarios.length + 1, { cluster, storage, opts: { ...opts, durationS: Math.min(WARM_UP_S, opts.durationS) }, log });
    log(`warm-up: ${warm.verdict.acked} acked in ${(warm.ms / 1000).toFixed(1)} s (not reported)`);
    for (const [i, name] of opts.scenarios.entries()) {
      const health = await healthy(cluster, probe, log);
      log(`scenario ${name} (${i + 1}/${opts.scenarios.length}); cluster healthy after ${health} ms`);
      try {
        const r = await runScenario(name, i, { cluster, storage, opts, log });
        scenarios.push(r);
        log(`${name}: ${r.broken.length === 0 ? 'ok' : `broken: ${r.broken.join(', ')}`} (${(r.ms / 1000).toFixed(1)} s)`);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        log(`${name}: could not run: ${error}`);
        const died = (await cluster.reviveUnexpected(name)).map((n) => `${n} died`);
        scenarios.push({ name, ms: 0, fault: null, verdict: emptyVerdict(), recovery: emptyRecovery(), memory: {} as ScenarioReport['memory'], died, broken: ['scenario ran'], error });
      }
    }
    return {
      startedAt,
      command,
      environment: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model },
      options: opts,
      scenarios,
      unexpectedExits: [...cluster.unexpected],
      ms: Date.now() - t0,
    };
  } finally {
    await stopRunning();
    stopRunning = null;
  }
}
