/**
 * Launching the two servers of the embedded stack: a private MariaDB (own
 * data dir, loopback port, durable InnoDB) and a private Redis (append-only
 * file, fsync every second). Each is started on a free port and polled until it answers.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { ErrorCode, ImError } from '../common/errors.ts';
import { DEFAULT_DATABASE } from '../schema/migrate.ts';
import { findBinary, freePort, INSTALL_HINT, tailFile, waitUntil } from './stack-process.ts';

export type ServiceName = 'mysql' | 'redis';

export interface RunningService {
  name: ServiceName;
  pid: number;
  port: number;
  url: string;
  child: ChildProcess;
  logFile: string;
}

const PORT_ATTEMPTS = 3;
const isRoot = process.getuid?.() === 0;

function stackError(message: string, cause?: unknown): ImError {
  return new ImError(ErrorCode.STACK, message, cause === undefined ? undefined : { cause });
}

function requireBinary(...names: string[]): string {
  for (const name of names) {
    const path = findBinary(name);
    if (path !== undefined) return path;
  }
  throw stackError(`${names[0]} is not installed; install it with: ${INSTALL_HINT}`);
}

/** Runs a command to completion with its output appended to logFile. */
async function run(bin: string, args: string[], logFile: string): Promise<number | null> {
  const fd = openSync(logFile, 'a');
  try {
    return await new Promise<number | null>((resolve, reject) => {
      const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
      child.once('error', reject);
      child.once('exit', (code) => resolve(code));
    });
  } finally {
    closeSync(fd);
  }
}

export interface LaunchOptions {
  timeoutMs: number;
  /** Called with each server pid as soon as it exists (before it is ready). */
  onSpawn: (pid: number, port: number) => void;
}

function spawnDetached(bin: string, args: string[]): Promise<ChildProcess & { pid: number }> {
  const child = spawn(bin, args, { detached: true, stdio: 'ignore' });
  child.unref();
  if (child.pid !== undefined) return Promise.resolve(child as ChildProcess & { pid: number });
  return new Promise((_, reject) =>
    child.once('error', (err) => reject(stackError(`cannot run ${bin}: ${err.message}`, err))),
  );
}

/** Spawns `bin` on free ports until it answers `ready` (or fails for another reason). */
async function launch(
  name: ServiceName,
  bin: string,
  argsFor: (port: number) => string[],
  logFile: string,
  ready: (port: number) => Promise<boolean>,
  opts: LaunchOptions,
): Promise<RunningService> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = await spawnDetached(bin, argsFor(port));
    opts.onSpawn(child.pid, port);
    let exitCode: number | null | undefined;
    child.once('exit', (code, signal) => (exitCode = code ?? (signal === null ? null : -1)));
    const up = await waitUntil(async () => exitCode !== undefined || (await ready(port)), opts.timeoutMs, 100);
    if (up && exitCode === undefined) {
      return { name, pid: child.pid, port, url: urlOf(name, port), child, logFile };
    }
    const tail = await tailFile(logFile);
    if (exitCode === undefined) {
      child.kill('SIGKILL');
      throw stackError(`${name} did not accept connections within ${opts.timeoutMs} ms; ${logFile} ends with:\n${tail}`);
    }
    if (attempt < PORT_ATTEMPTS && /in use|bind/i.test(tail)) continue;
    throw stackError(`${name} exited with code ${exitCode} while starting; ${logFile} ends with:\n${tail}`);
  }
}

function urlOf(name: ServiceName, port: number): string {
  return name === 'mysql' ? `mysql://root@127.0.0.1:${port}/${DEFAULT_DATABASE}` : `redis://127.0.0.1:${port}`;
}

async function mysqlAnswers(port: number): Promise<boolean> {
  try {
    const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 });
    await conn.ping();
    await conn.end();
    return true;
  } catch {
    return false;
  }
}

function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}

/** A unix socket path short enough for sun_path (108 bytes). */
function socketPath(dir: string): string {
  const local = join(dir, 'mysql.sock');
  if (local.length < 100) return local;
  return join(tmpdir(), `tt-stack-${createHash('sha1').update(dir).digest('hex').slice(0, 12)}.sock`);
}

// A redo log big enough that group commits at ~10k rows/s do not force
// checkpoint flushes every few seconds; commits stay durable (flush at each).
const SERVER_FLAGS = ['--innodb-buffer-pool-size=256M', '--innodb-log-file-size=256M'];

/** Starts MariaDB with its data in <dir>/mysql; initializes it first if needed. */
export async function startMariadb(dir: string, opts: LaunchOptions & { fresh: boolean; flags?: readonly string[] }): Promise<RunningService> {
  const mariadbd = requireBinary('mariadbd', 'mysqld');
  const installDb = requireBinary('mariadb-install-db', 'mysql_install_db');
  const dataDir = join(dir, 'mysql');
  const marker = join(dir, 'mysql.initialized');
  const logFile = join(dir, 'mysql.log');
  const user = isRoot ? ['--user=root'] : [];
  if (opts.fresh || !existsSync(marker)) {
    await rm(marker, { force: true });
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(dataDir, { recursive: true });
    const installArgs = [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      ...user,
      ...SERVER_FLAGS,
    ];
    // Seen failing now and then when several start at once: tried up to three times on a fresh data dir.
    for (let attempt = 1; ; attempt++) {
      const code = await run(installDb, installArgs, join(dir, 'mysql-install.log'));
      if (code === 0) break;
      if (attempt === 3) {
        const log = await readFile(join(dir, 'mysql-install.log'), 'utf8').catch(() => '');
        const errors = log.split('\n').filter((l) => /error/i.test(l)).slice(-10).join('\n');
        throw stackError(`${installDb} failed with code ${code} (3 attempts):\n${errors || (await tailFile(join(dir, 'mysql-install.log')))}`);
      }
      await rm(dataDir, { recursive: true, force: true });
      await mkdir(dataDir, { recursive: true });
      await new Promise((r) => setTimeout(r, 300 * attempt));
    }
    await writeFile(marker, `${new Date().toISOString()}\n`);
  }
  const argsFor = (port: number): string[] => [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--socket=${socketPath(dir)}`,
    `--pid-file=${join(dir, 'mysql.pid')}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    ...user,
    '--skip-name-resolve',
    `--log-error=${logFile}`,
    '--innodb-flush-log-at-trx-commit=1',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_bin',
    '--max-connections=500',
    ...SERVER_FLAGS,
    ...(opts.flags ?? []),
  ];
  const service = await launch('mysql', mariadbd, argsFor, logFile, mysqlAnswers, opts);
  // The URL names the default database; make it exist so the URL works as is.
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: service.port, user: 'root' });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${DEFAULT_DATABASE}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await conn.end();
  }
  return service;
}

/**
 * Starts a Redis that keeps an append-only file (fsync every second) in
 * <dir>/redis, so a restart keeps counters and login owners; what the last
 * second lost, db-proxy rebuilds from MySQL (its run_id changed).
 */
export async function startRedis(dir: string, opts: LaunchOptions): Promise<RunningService> {
  const redisServer = requireBinary('redis-server');
  const workDir = join(dir, 'redis');
  await mkdir(workDir, { recursive: true });
  const logFile = join(dir, 'redis.log');
  const argsFor = (port: number): string[] => [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--daemonize', 'no',
    '--dir', workDir,
    '--logfile', logFile,
  ];
  return launch('redis', redisServer, argsFor, logFile, redisAnswers, opts);
}
