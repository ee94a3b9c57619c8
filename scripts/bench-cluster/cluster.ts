/**
 * The cluster under test, as separate processes started like `npm start`
 * starts them (`node --import tsx <proc>/main.ts`, configured through the
 * environment): db-proxy, one route-server, two access servers, each on a
 * free loopback port read back from its "listening" log line. Every process
 * is started through `sh -c 'ulimit -n <hard limit>; exec node ...'` so it
 * may open as many sockets as the machine allows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { processCpuSeconds } from '../bench/processes.ts';
import { DEFAULT_STACK_DIR, STACK_ROOT } from '../stack.ts';
import { liveState } from '../stack-state.ts';
import type { ServerAddress } from './types.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** Raises the soft fd limit to the hard one (ignored where not allowed), then runs the command. */
export const RAISE_FD_LIMIT = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"';

export interface NodeProcess {
  name: string;
  pid: number;
  /** The fields of its "listening" log record. */
  ready: Record<string, unknown>;
  exited(): string | null;
  rssBytes(): number;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Resident set size of a process (Linux /proc), 0 when unknown. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The soft fd limit a process started through RAISE_FD_LIMIT gets. */
export function fdLimitOf(pid: number): number {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return m ? Number(m[1]) : Infinity;
  } catch {
    return Infinity;
  }
}

/** Warning / error lines of one kind (pino `msg`) passed to the log before they are only counted. */
const REPEATS_SHOWN = 3;
/** Children still running; killed if this process exits without stopping them (they would be orphaned). */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
// A test runner or an operator stopping this process with a signal skips
// 'exit': take the children down first so none is left behind.
for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    for (const c of live) c.kill('SIGKILL');
    process.exit(128 + (signal === 'SIGTERM' ? 15 : 1));
  });
}

/** Starts `node --import tsx <script>` and resolves once it logs `readyMsg`. */
export function startNode(name: string, script: string, env: Record<string, string>, readyMsg: string, log: (m: string) => void): Promise<NodeProcess> {
  const child: ChildProcess = spawn('/bin/sh', ['-c', RAISE_FD_LIMIT, 'sh', process.execPath, '--import', 'tsx', script], {
    cwd: REPO,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let ended: string | null = null;
  const seen = new Map<string, number>();
  live.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      ended = String(code ?? signal);
      live.delete(child);
      resolve();
    }),
  );
  createInterface({ input: child.stderr! }).on('line', (line) => log(`${name} stderr: ${line}`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`${name} did not log "${readyMsg}" in time`))), 60_000);
    void exited.then(() => (clearTimeout(timer), reject(new Error(`${name} exited (${ended}) before it was ready`))));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let rec: Record<string, unknown> & { level?: number; msg?: string };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        return log(`${name}: ${line.slice(0, 300)}`);
      }
      if (rec.msg === readyMsg) {
        clearTimeout(timer);
        const pid = child.pid!;
        resolve({
          name,
          pid,
          ready: rec,
          exited: () => ended,
          rssBytes: () => rssOf(pid),
          cpuSeconds: () => processCpuSeconds(pid),
          async stop() {
            for (const [msg, n] of seen) if (n > REPEATS_SHOWN) log(`${name}: ${n - REPEATS_SHOWN} more "${msg}" warnings`);
            if (ended !== null) return;
            child.kill('SIGTERM');
            const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
            await exited;
            clearTimeout(kill);
          },
        });
      } else if ((rec.level ?? 0) >= 40) {
        // Warnings and errors, the first few of each kind; the rest are counted.
        const n = (seen.get(rec.msg ?? '') ?? 0) + 1;
        seen.set(rec.msg ?? '', n);
        if (n <= REPEATS_SHOWN) log(`${name}: ${line.slice(0, 400)}`);
      }
    });
  });
}

/** A process measured but not started here (the embedded MariaDB and Redis). */
export interface Watched {
  name: string;
  cpuSeconds(): number;
}

/** The embedded MariaDB / Redis serving these URLs, when a stack of this repo runs them (for their CPU). */
export function storageProcesses(mysqlUrl: string, redisUrl: string): Watched[] {
  const found: Watched[] = [];
  for (const dir of [DEFAULT_STACK_DIR, join(STACK_ROOT, 'bench')]) {
    const state = liveState(dir);
    for (const [name, url] of [['mysql', mysqlUrl], ['redis', redisUrl]] as const) {
      const svc = state?.services[name];
      if (svc?.pid && svc.port === Number(new URL(url).port)) found.push({ name: name === 'mysql' ? 'mariadb' : 'redis', cpuSeconds: () => processCpuSeconds(svc.pid) });
    }
  }
  return found;
}

export interface Cluster {
  dbProxy: NodeProcess;
  route: NodeProcess;
  access: [NodeProcess, NodeProcess];
  servers: [ServerAddress, ServerAddress];
  routeHttp: string;
  all(): NodeProcess[];
  /** Cluster processes plus the embedded storage servers, for CPU figures. */
  watched(): Watched[];
  stop(): Promise<void>;
}

const port = (rec: Record<string, unknown>, key: string): number => (rec[key] as { port: number }).port;

/** db-proxy, route-server, access servers a and b; `storageEnv` carries MYSQL_URL, REDIS_URL, REDIS_KEY_PREFIX, SHARDS. */
export async function startCluster(storageEnv: Record<string, string>, accessEnv: Record<string, string>, log: (m: string) => void): Promise<Cluster> {
  const started: NodeProcess[] = [];
  // The links of this cluster authenticate with a secret of its own.
  const secret = { CLUSTER_SECRET: randomBytes(24).toString('base64url') };
  const stopAll = async (): Promise<void> => {
    for (const p of [...started].reverse()) await p.stop();
  };
  try {
    const dbProxy = await startNode('db-proxy', 'db-proxy/main.ts', { ...storageEnv, ...secret, DB_PROXY_HOST: '127.0.0.1', DB_PROXY_PORT: '0', DB_PROXY_HTTP_PORT: '0' }, 'db-proxy listening', log);
    started.push(dbProxy);
    const route = await startNode(
      'route-server',
      'route-server/main.ts',
      { ...secret, ROUTE_SERVER_HOST: '127.0.0.1', ROUTE_SERVER_PORT: '0', ROUTE_HTTP_PORT: '0', ROUTE_LOGIN_PORT: '0' },
      'route-server listening',
      log,
    );
    started.push(route);
    const access = [];
    for (const id of ['a', 'b']) {
      const env = {
        ...storageEnv,
        // Thousands of logins at once, all from loopback: the per-source login
        // throttle is raised out of the way (a bench may still set its own).
        ACCESS_LOGIN_RATE_PER_SEC: '1000000',
        ACCESS_LOGIN_BURST: '1000000',
        ...accessEnv,
        ...secret,
        ACCESS_SERVER_ID: id,
        ACCESS_HOST: '127.0.0.1',
        ACCESS_PORT: '0',
        DB_PROXY_ADDRS: `127.0.0.1:${port(dbProxy.ready, 'address')}`,
        ROUTE_SERVERS: `127.0.0.1:${port(route.ready, 'links')}`,
      };
      const p = await startNode(`access-server ${id}`, 'access-server/main.ts', env, 'access-server listening', log);
      started.push(p);
      access.push(p);
    }
    const [a, b] = access as [NodeProcess, NodeProcess];
    return {
      dbProxy,
      route,
      access: [a, b],
      servers: [{ host: '127.0.0.1', port: port(a.ready, 'address') }, { host: '127.0.0.1', port: port(b.ready, 'address') }],
      routeHttp: `http://127.0.0.1:${port(route.ready, 'http')}`,
      all: () => [...started],
      watched: () => [...started, ...storageProcesses(storageEnv.MYSQL_URL ?? '', storageEnv.REDIS_URL ?? '')],
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
