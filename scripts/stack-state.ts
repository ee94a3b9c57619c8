/**
 * The state file of an embedded stack (<dir>/stack.json): who owns it and
 * which server processes it started. It lets `npm run stack -- stop` work from
 * another shell, and lets the next start clean up after an owner that was
 * killed before it could stop its servers.
 */
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cmdlineOf, isAlive, processStartTime, terminate, WATCHDOG_MARK } from './stack-process.ts';
import type { ServiceName } from './stack-services.ts';

export interface ServiceState {
  pid: number;
  port?: number;
  url?: string;
}

export interface StackState {
  owner: number;
  /** Start time of the owner (from /proc), to tell it from a process that reused its pid. */
  ownerStart?: string;
  ephemeral: boolean;
  watchdog?: number;
  services: Partial<Record<ServiceName, ServiceState>>;
}

const STATE_FILE = 'stack.json';

export function readState(dir: string): StackState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

export function writeState(dir: string, state: StackState): void {
  const tmp = join(dir, `${STATE_FILE}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, join(dir, STATE_FILE));
}

export function removeState(dir: string): void {
  rmSync(join(dir, STATE_FILE), { force: true });
}

/** True while the process that wrote the state is still running. */
export function ownerAlive(state: StackState): boolean {
  if (!isAlive(state.owner)) return false;
  const start = processStartTime(state.owner);
  return state.ownerStart === undefined || start === undefined || start === state.ownerStart;
}

/**
 * True if `pid` still runs the process the state file recorded, so a pid
 * reused by an unrelated process is never signalled. Without /proc the pid is
 * trusted.
 */
function isOurs(dir: string, name: ServiceName | 'watchdog', entry: ServiceState): boolean {
  if (!isAlive(entry.pid)) return false;
  const cmdline = cmdlineOf(entry.pid);
  if (cmdline === undefined) return true;
  if (name === 'watchdog') return cmdline.includes(WATCHDOG_MARK);
  if (name === 'mysql') return cmdline.includes(`--datadir=${join(dir, 'mysql')}`);
  // redis-server rewrites its title to "redis-server 127.0.0.1:<port>"
  return cmdline.includes('redis') && entry.port !== undefined && cmdline.includes(`:${entry.port}`);
}

/** The stack recorded in `dir` if its owner and all its servers are alive. */
export function liveState(dir: string): StackState | undefined {
  const state = readState(dir);
  if (state === undefined || !ownerAlive(state)) return undefined;
  const services = Object.entries(state.services) as [ServiceName, ServiceState][];
  return services.every(([name, s]) => isOurs(dir, name, s)) ? state : undefined;
}

/** Stops whatever a dead owner left running in `dir` and removes its state. */
export async function cleanupStale(dir: string, log: (msg: string) => void): Promise<void> {
  const state = readState(dir);
  if (state === undefined || (ownerAlive(state) && state.owner !== process.pid)) return;
  const stops: Promise<void>[] = [];
  for (const [name, entry] of Object.entries(state.services) as [ServiceName, ServiceState][]) {
    if (isOurs(dir, name, entry)) {
      log(`stopping ${name} (pid ${entry.pid}) left behind in ${dir}`);
      stops.push(terminate(entry.pid, 30_000));
    }
  }
  if (state.watchdog !== undefined && isOurs(dir, 'watchdog', { pid: state.watchdog })) {
    stops.push(terminate(state.watchdog, 2_000));
  }
  await Promise.all(stops);
  removeState(dir);
  if (state.ephemeral) rmSync(dir, { recursive: true, force: true });
}

/** cleanupStale for every stack folder directly under `root`. */
export async function sweepStale(root: string, log: (msg: string) => void): Promise<void> {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return;
  }
  for (const entry of entries) await cleanupStale(join(root, entry), log);
}
