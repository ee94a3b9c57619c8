/**
 * Process plumbing for the embedded stack: free ports, liveness checks that
 * see through zombies and reused pids, graceful termination, and a watchdog
 * that takes the servers down when the process that started them dies.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const INSTALL_HINT = 'apt-get install -y mariadb-server redis-server';
export const WATCHDOG_MARK = 'tt-stack-watchdog';

/** A loopback port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Absolute path of an executable in PATH or the usual sbin folders. */
export function findBinary(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  dirs.push('/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/local/bin', '/usr/bin');
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The command line of a live process, or undefined (no such process, or no /proc). */
export function cmdlineOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return undefined;
  }
}

/** The start time of a process in clock ticks since boot (from /proc), or undefined. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}

/** SIGTERM, wait up to graceMs, then SIGKILL. Resolves once the process is gone. */
export async function terminate(pid: number, graceMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitUntil(() => !isAlive(pid), graceMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await waitUntil(() => !isAlive(pid), 5_000);
}

/** The last `lines` lines of a log file ('' if it cannot be read). */
export async function tailFile(path: string, lines = 20): Promise<string> {
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 16_384);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      return buf.toString('utf8').split('\n').slice(-lines - 1).join('\n').trim();
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

// Runs in its own node process. The owner writes the pid of every server it
// spawns to the watchdog's stdin, a pipe only the owner holds; the pipe closes
// however the owner dies (even SIGKILL), and then the watchdog stops those
// servers. The owner kills the watchdog after a normal shutdown.
const WATCHDOG_SOURCE = `
const pids = new Set();
let buf = '';
let stopping = false;
const fs = require('node:fs');
const alive = (pid) => {
  try { process.kill(pid, 0); } catch { return false; }
  try { const s = fs.readFileSync('/proc/' + pid + '/stat', 'utf8'); return s[s.lastIndexOf(')') + 2] !== 'Z'; } catch { return true; }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function stopAll() {
  if (stopping) return;
  stopping = true;
  for (const pid of pids) { try { process.kill(pid, 'SIGTERM'); } catch {} }
  for (let i = 0; i < 300 && [...pids].some(alive); i++) await sleep(100);
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  process.exit(0);
}
process.stdin.on('data', (chunk) => {
  buf += chunk;
  const lines = buf.split('\\n');
  buf = lines.pop();
  for (const line of lines) if (/^\\d+$/.test(line)) pids.add(Number(line));
});
process.stdin.on('end', stopAll).on('close', stopAll).on('error', stopAll);
for (const sig of ['SIGINT', 'SIGHUP']) process.on(sig, () => {});
`;

export interface Watchdog {
  pid: number;
  /** Adds a server pid to stop when the owner dies. */
  guard(pid: number): void;
  /** Ends the watchdog (after the servers were stopped normally). */
  stop(): Promise<void>;
}

/** Starts a watchdog bound to this process. It does not keep this process alive. */
export function startWatchdog(): Watchdog {
  const child = spawn(process.execPath, ['-e', WATCHDOG_SOURCE, WATCHDOG_MARK], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.unref();
  const stdin = child.stdin;
  (stdin as unknown as { unref?: () => void } | null)?.unref?.();
  stdin?.on('error', () => {});
  const pid = child.pid;
  if (pid === undefined || stdin === null) throw new Error('could not start the stack watchdog');
  return {
    pid,
    guard: (guarded) => void stdin.write(`${guarded}\n`),
    stop: () => terminate(pid, 2_000),
  };
}
