/**
 * The two child processes of a benchmark: db-proxy (`node --import tsx
 * db-proxy/main.ts`, on a free loopback port, configured through its
 * environment like in production) and the load generator (forked).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { GeneratorConfig, GeneratorResult } from './types.ts';

const MAIN = fileURLToPath(new URL('../../db-proxy/main.ts', import.meta.url));

export interface ProxyProcess {
  pid: number;
  port: number;
  /** Exit code (or signal name) once the process has ended unexpectedly or been stopped; null while it runs. */
  exit(): string | null;
  /** CPU seconds (user + system, all threads) used so far. */
  cpuSeconds(): number;
  /** SIGTERM (graceful), then SIGKILL after the grace period. */
  stop(): Promise<void>;
}

export interface ProxyOptions {
  env: Record<string, string>;
  /** Directory for --cpu-prof output, or null. */
  cpuProfDir: string | null;
  log: (m: string) => void;
  startTimeoutMs?: number;
}

/** CPU time of a process from /proc (Linux); 0 elsewhere. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

export function startProxy(opts: ProxyOptions): Promise<ProxyProcess> {
  const args = ['--import', 'tsx'];
  if (opts.cpuProfDir) args.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`);
  args.push(MAIN);
  const child: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, LOG_LEVEL: 'info', ...opts.env, DB_PROXY_HOST: '127.0.0.1', DB_PROXY_PORT: '0', DB_PROXY_HTTP_PORT: '0', CLUSTER_SECRET: BENCH_CLUSTER_SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let ended: string | null = null;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      ended = String(code ?? signal);
      resolve(code);
    }),
  );
  createInterface({ input: child.stderr! }).on('line', (line) => opts.log(`db-proxy stderr: ${line}`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('db-proxy did not start listening in time'));
    }, opts.startTimeoutMs ?? 30_000);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`db-proxy exited with code ${code} before listening`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let rec: { level?: number; msg?: string; address?: { port: number } };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        opts.log(`db-proxy: ${line}`);
        return;
      }
      if (rec.msg === 'db-proxy listening' && rec.address) {
        clearTimeout(timer);
        const pid = child.pid!;
        resolve({
          pid,
          port: rec.address.port,
          exit: () => ended,
          cpuSeconds: () => processCpuSeconds(pid),
          async stop() {
            child.kill('SIGTERM');
            const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
            await exited;
            clearTimeout(kill);
          },
        });
      } else if ((rec.level ?? 0) >= 40) {
        opts.log(`db-proxy: ${line.slice(0, 400)}`);
      }
    });
  });
}

/** The db-proxy of a benchmark run and its load generators share this CLUSTER_SECRET (new per run). */
const BENCH_CLUSTER_SECRET = randomBytes(24).toString('base64url');

const GENERATOR = fileURLToPath(new URL('./load-generator.ts', import.meta.url));

/** Runs one load-generator process to completion and returns what it measured. */
/**
 * Forks a load generator for `cfg`. It authenticates with the benchmark's own
 * db-proxy secret unless `clusterSecret` says otherwise (null: no handshake,
 * as TeamTalk's db_proxy_server expects).
 */
export function runGenerator(cfg: GeneratorConfig, limitMs: number, onStart: () => void, clusterSecret: string | null = BENCH_CLUSTER_SECRET): Promise<GeneratorResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_GENERATOR_CONFIG: JSON.stringify(cfg) };
  if (clusterSecret === null) delete env.CLUSTER_SECRET;
  else env.CLUSTER_SECRET = clusterSecret;
  const child = fork(GENERATOR, [], {
    execArgv: ['--import', 'tsx'],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    let result: GeneratorResult | null = null;
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('message', (m: { type: string; result?: GeneratorResult }) => {
      if (m.type === 'start') onStart();
      else if (m.type === 'result') result = m.result!;
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (result) resolve(result);
      else reject(new Error(`load generator ended without a result (code ${code}, signal ${signal})`));
    });
  });
}
