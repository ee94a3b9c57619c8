/**
 * The embedded default stack: a private MariaDB and a private Redis under
 * .stack/ at the repo root, on free loopback ports, so nothing needs to be
 * installed as a service or configured to run the project or its tests.
 *
 *   npm run stack -- start    run in the foreground until Ctrl-C, print the URLs
 *   npm run stack -- stop     stop a stack started from another shell
 *   npm run stack -- status   show what runs
 *
 * Servers are started detached, and a watchdog stops them if the owning
 * process dies without stopping them; whatever is still left is cleaned up by
 * the next start.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { urlFromEnv } from '../common/config.ts';
import type { Env } from '../common/config.ts';
import { ErrorCode, ImError } from '../common/errors.ts';
import { processStartTime, startWatchdog, terminate, waitUntil } from './stack-process.ts';
import { startMariadb, startRedis } from './stack-services.ts';
import type { RunningService, ServiceName } from './stack-services.ts';
import { cleanupStale, liveState, ownerAlive, readState, removeState, sweepStale, writeState } from './stack-state.ts';
import type { StackState } from './stack-state.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const STACK_ROOT = join(REPO_ROOT, '.stack');
export const DEFAULT_STACK_DIR = join(STACK_ROOT, 'default');

export interface StackOptions {
  /** Folder for data, logs and state; defaults to .stack/default. */
  dir?: string;
  /** Start from an empty data dir and delete the folder on stop. */
  ephemeral?: boolean;
  /** Per-server startup limit; default 60 s. */
  timeoutMs?: number;
  log?: (msg: string) => void;
  /** Called if a server dies while the stack is up. */
  onUnexpectedExit?: (name: ServiceName, code: number | null) => void;
  /** More mariadbd options (a replication source: --log-bin, --server-id=...). */
  mysqlFlags?: readonly string[];
}

export interface Stack {
  dir: string;
  mysqlUrl: string;
  redisUrl: string;
  pids: { mysql: number; redis: number };
  stop(): Promise<void>;
}

interface PartialStack {
  urls: Partial<Record<ServiceName, string>>;
  pids: Partial<Record<ServiceName, number>>;
  stop(): Promise<void>;
}

async function startServices(opts: StackOptions, which: Record<ServiceName, boolean>): Promise<PartialStack> {
  const dir = resolve(opts.dir ?? DEFAULT_STACK_DIR);
  const log = opts.log ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const ephemeral = opts.ephemeral ?? false;
  const previous = readState(dir);
  if (previous !== undefined && ownerAlive(previous)) {
    throw new ImError(ErrorCode.STACK, `a stack already runs in ${dir} (owner pid ${previous.owner}); stop it first`);
  }
  await cleanupStale(dir, log);
  if (dir.startsWith(STACK_ROOT + sep)) await sweepStale(STACK_ROOT, log);
  mkdirSync(dir, { recursive: true });

  const watchdog = startWatchdog();
  const state: StackState = {
    owner: process.pid,
    ownerStart: processStartTime(process.pid),
    ephemeral,
    watchdog: watchdog.pid,
    services: {},
  };
  writeState(dir, state);
  const running: RunningService[] = [];
  const spawned = new Set<number>();
  let stopping = false;
  const onSpawn = (name: ServiceName) => (pid: number, port: number) => {
    spawned.add(pid);
    watchdog.guard(pid);
    state.services[name] = { pid, port };
    writeState(dir, state);
  };

  const stop = async (): Promise<void> => {
    stopping = true;
    await Promise.all([...spawned].map((pid) => terminate(pid, 30_000)));
    // A server that exited stays a zombie until Node reaps it: wait for that too.
    await Promise.all(running.map((s) => reaped(s.child)));
    await watchdog.stop();
    removeState(dir);
    if (ephemeral) rmSync(dir, { recursive: true, force: true });
  };

  const starts: Promise<RunningService>[] = [];
  if (which.mysql) starts.push(startMariadb(dir, { timeoutMs, fresh: ephemeral, onSpawn: onSpawn('mysql'), flags: opts.mysqlFlags }));
  if (which.redis) starts.push(startRedis(dir, { timeoutMs, onSpawn: onSpawn('redis') }));
  const results = await Promise.allSettled(starts);
  for (const r of results) if (r.status === 'fulfilled') running.push(r.value);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure !== undefined) {
    await stop();
    throw failure.reason;
  }

  for (const s of running) {
    state.services[s.name] = { pid: s.pid, port: s.port, url: s.url };
    s.child.once('exit', (code) => {
      if (!stopping) opts.onUnexpectedExit?.(s.name, code);
    });
    log(`${s.name} ready on port ${s.port} (pid ${s.pid})`);
  }
  writeState(dir, state);
  return {
    urls: Object.fromEntries(running.map((s) => [s.name, s.url])),
    pids: Object.fromEntries(running.map((s) => [s.name, s.pid])),
    stop,
  };
}

/** Resolves once a child has exited and been reaped (bounded: 5 s). */
function reaped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    // Not unref'd: the servers are unref'd children, so this timer is what keeps
    // the process alive until their exit is seen.
    const timer = setTimeout(resolve, 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Starts a private MariaDB and Redis. Call stop() when done. */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const started = await startServices(opts, { mysql: true, redis: true });
  return {
    dir: resolve(opts.dir ?? DEFAULT_STACK_DIR),
    mysqlUrl: started.urls.mysql!,
    redisUrl: started.urls.redis!,
    pids: { mysql: started.pids.mysql!, redis: started.pids.redis! },
    stop: started.stop,
  };
}

/** URLs of a stack already running in `dir` (e.g. from `npm run stack -- start`). */
export function runningStack(dir: string = DEFAULT_STACK_DIR): { mysqlUrl?: string; redisUrl?: string } | undefined {
  const state = liveState(resolve(dir));
  if (state === undefined) return undefined;
  return { mysqlUrl: state.services.mysql?.url, redisUrl: state.services.redis?.url };
}

export interface Storage {
  mysqlUrl: string;
  redisUrl: string;
  /** Which servers this call started (and stop() will stop). */
  started: Record<ServiceName, boolean>;
  stop(): Promise<void>;
}

/**
 * Where MySQL and Redis are, each on its own: MYSQL_URL / REDIS_URL if set;
 * otherwise a stack already running in opts.dir; otherwise a private server
 * started now.
 */
export async function resolveStorage(env: Env, opts: StackOptions = {}): Promise<Storage> {
  const running = runningStack(opts.dir ?? DEFAULT_STACK_DIR);
  let mysqlUrl = urlFromEnv(env, 'MYSQL_URL', ['mysql']) ?? running?.mysqlUrl;
  let redisUrl = urlFromEnv(env, 'REDIS_URL', ['redis', 'rediss']) ?? running?.redisUrl;
  const which = { mysql: mysqlUrl === undefined, redis: redisUrl === undefined };
  if (!which.mysql && !which.redis) {
    return { mysqlUrl: mysqlUrl!, redisUrl: redisUrl!, started: which, stop: async () => {} };
  }
  const stack = await startServices(opts, which);
  mysqlUrl ??= stack.urls.mysql!;
  redisUrl ??= stack.urls.redis!;
  return { mysqlUrl, redisUrl, started: which, stop: stack.stop };
}

async function cli(command: string | undefined): Promise<number> {
  const log = (msg: string): void => console.log(`stack: ${msg}`);
  const dir = DEFAULT_STACK_DIR;
  if (command === 'start') {
    const t0 = Date.now();
    const stack = await startStack({
      dir,
      log,
      onUnexpectedExit: (name, code) => {
        console.error(`stack: ${name} exited unexpectedly (code ${code}); stopping`);
        void stack.stop().then(() => process.exit(1));
      },
    });
    console.log(`stack: up in ${Date.now() - t0} ms (data in ${dir})`);
    console.log(`export MYSQL_URL=${stack.mysqlUrl}\nexport REDIS_URL=${stack.redisUrl}`);
    console.log('stack: press Ctrl-C to stop');
    const keepAlive = setInterval(() => {}, 1 << 30);
    await new Promise<void>((done) => ['SIGINT', 'SIGTERM', 'SIGHUP'].forEach((s) => process.once(s, done)));
    clearInterval(keepAlive);
    await stack.stop();
    log('stopped');
    return 0;
  }
  if (command === 'stop') {
    const state = readState(dir);
    if (state === undefined) return (log('no stack is running'), 0);
    if (ownerAlive(state)) {
      process.kill(state.owner, 'SIGTERM');
      await waitUntil(() => !ownerAlive(state), 40_000, 100);
    }
    await cleanupStale(dir, log);
    log('stopped');
    return 0;
  }
  if (command === 'status') {
    const state = liveState(dir);
    if (state === undefined) return (log(readState(dir) ? 'not running (stale state left)' : 'not running'), 1);
    log(`running, owner pid ${state.owner}`);
    for (const [name, s] of Object.entries(state.services)) log(`${name}: ${s.url ?? 'starting'} (pid ${s.pid})`);
    return 0;
  }
  console.error('usage: npm run stack -- start|stop|status');
  return 2;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  cli(process.argv[2]).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`stack: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
