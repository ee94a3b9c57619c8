/**
 * npm start — the whole cluster on one machine. Storage is MYSQL_URL /
 * REDIS_URL when set, else a private MariaDB and Redis under .stack/default
 * (started here, stopped on exit). Migrates the schema, then starts every
 * process as a child — msfs (images, MSFS_PORT), push-server when APNs or
 * FCM credentials are set (APNS_KEY_FILE, FCM_SERVICE_ACCOUNT_FILE),
 * db-proxy, one route-server, two access servers (ids a and b, ports
 * ACCESS_PORT and ACCESS_PORT + 1) — waits until each
 * listens, and prints what runs where and how to chat with the terminal
 * client. Ctrl-C stops everything. Links between the processes authenticate
 * with CLUSTER_SECRET: the one in the environment, else a new random one
 * (written to .stack/cluster-secret, readable by this user only, for tools
 * that talk to db-proxy or the route-server directly).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { clusterSecretFromEnv } from '../common/cluster-auth.ts';
import { intFromEnv } from '../common/config.ts';
import { formatRanges, redactUrl } from '../db-proxy/storage/shard-map.ts';
import { migrate } from '../schema/migrate.ts';
import { DEFAULT_STACK_DIR, REPO_ROOT, resolveStorage, STACK_ROOT } from './stack.ts';

interface Proc {
  name: string;
  script: string;
  env: Record<string, string>;
  /** The TCP port it listens on once it is up. */
  port: number;
}

const portFromEnv = (name: string, fallback: number): number => intFromEnv(process.env, name, fallback, { min: 1, max: 65_535 });
const DB_PROXY_PORT = portFromEnv('DB_PROXY_PORT', 10600);
const ROUTE_PORT = portFromEnv('ROUTE_SERVER_PORT', 10700);
const ROUTE_HTTP_PORT = portFromEnv('ROUTE_HTTP_PORT', 10800);
/** Access server a listens here, b on the next port. */
const ACCESS_PORT = portFromEnv('ACCESS_PORT', 8000);
const LOOPBACK = '127.0.0.1';

function accessServer(id: 'a' | 'b', port: number): Proc {
  return {
    name: `access-server ${id}`,
    script: 'access-server/main.ts',
    port,
    env: {
      ACCESS_SERVER_ID: id,
      ACCESS_HOST: LOOPBACK,
      ACCESS_PORT: String(port),
      DB_PROXY_ADDRS: `${LOOPBACK}:${DB_PROXY_PORT}`,
      ROUTE_SERVERS: `${LOOPBACK}:${ROUTE_PORT}`,
      ...(withPush ? { PUSH_SERVERS: `${LOOPBACK}:${PUSH_PORT}` } : {}),
    },
  };
}

const MSFS_PORT = portFromEnv('MSFS_PORT', 8700);
const PUSH_PORT = portFromEnv('PUSH_PORT', 8500);
/** push-server runs only with a provider to send to: without one every push would fail after a device-token lookup per message. */
const withPush = Boolean(process.env.APNS_KEY_FILE || process.env.FCM_SERVICE_ACCOUNT_FILE);

/** The cluster's processes, in start order: each access server reaches db-proxy and the route-server (and Redis, for duplicate logins). */
const PROCESSES: Proc[] = [
  { name: 'msfs', script: 'msfs/main.ts', port: MSFS_PORT, env: { MSFS_HOST: LOOPBACK, MSFS_PORT: String(MSFS_PORT), MSFS_PUBLIC_URL: `http://${LOOPBACK}:${MSFS_PORT}/` } },
  ...(withPush ? [{ name: 'push-server', script: 'push-server/main.ts', port: PUSH_PORT, env: { PUSH_HOST: LOOPBACK, PUSH_PORT: String(PUSH_PORT) } }] : []),
  { name: 'db-proxy', script: 'db-proxy/main.ts', port: DB_PROXY_PORT, env: { DB_PROXY_HOST: LOOPBACK, DB_PROXY_PORT: String(DB_PROXY_PORT) } },
  {
    name: 'route-server',
    script: 'route-server/main.ts',
    port: ROUTE_PORT,
    env: {
      ROUTE_SERVER_HOST: LOOPBACK,
      ROUTE_SERVER_PORT: String(ROUTE_PORT),
      ROUTE_HTTP_PORT: String(ROUTE_HTTP_PORT),
      ROUTE_MSFS_URL: `http://${LOOPBACK}:${MSFS_PORT}/`,
    },
  },
  accessServer('a', ACCESS_PORT),
  accessServer('b', ACCESS_PORT + 1),
];

const shards = intFromEnv(process.env, 'SHARDS', 8, { min: 1, max: 1024 });
const storage = await resolveStorage(process.env, { dir: DEFAULT_STACK_DIR });
const children: ChildProcess[] = [];
let stopping = false;

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    await storage.stop();
  }
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void stop(0));

try {
  const mysqlUrl = withDefaultDatabase(storage.mysqlUrl);
  const result = await migrate({ url: mysqlUrl, shards, shardMap: process.env.SHARD_MAP });
  const elsewhere = result.shardHosts.map((h) => `; shards ${formatRanges(h.shards)} on ${h.url}`).join('');
  console.log(`[start] schema: database ${result.database}, ${result.applied.length} migration(s) applied, ${shards} shards${elsewhere}`);
  console.log(`[start] MySQL ${storage.started.mysql ? '(embedded)' : '(MYSQL_URL)'}: ${redactUrl(mysqlUrl)}`);
  console.log(`[start] Redis ${storage.started.redis ? '(embedded)' : '(REDIS_URL)'}: ${redactUrl(storage.redisUrl)}`);
  const common = { MYSQL_URL: mysqlUrl, REDIS_URL: storage.redisUrl, SHARDS: String(shards), CLUSTER_SECRET: clusterSecret() };
  const ready: Promise<void>[] = [];
  for (const p of processes(common)) {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, p.script)], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...p.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    ready.push(forwardUntilListening(child, p));
    child.once('exit', (code, signal) => {
      if (stopping) return;
      console.error(`[start] ${p.name} exited (${signal ?? code}); stopping the cluster`);
      void stop(1);
    });
    children.push(child);
    console.log(`[start] ${p.name}: pid ${child.pid}, port ${p.port}`);
  }
  await Promise.all(ready);
  console.log(howToConnect(storage.started.mysql));
  console.log('[start] running; Ctrl-C stops everything');
} catch (err) {
  console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
  await stop(1);
}

/** CLUSTER_SECRET from the environment, else a new one, written where local tools find it. */
function clusterSecret(): string {
  if (clusterSecretFromEnv(process.env)) {
    console.log('[start] links authenticate with CLUSTER_SECRET from the environment');
    return process.env.CLUSTER_SECRET!.trim();
  }
  const secret = randomBytes(32).toString('base64url');
  mkdirSync(STACK_ROOT, { recursive: true });
  const file = join(STACK_ROOT, 'cluster-secret');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  console.log(`[start] links authenticate with a new CLUSTER_SECRET (in ${file})`);
  return secret;
}

/** The processes of the cluster, with their own settings. */
function processes(common: Record<string, string>): Proc[] {
  return PROCESSES.map((p) => ({ ...p, env: { ...common, ...p.env } }));
}

/** Passes the child's log lines through; resolves at its "<name> listening" line (rejects after 60 s). */
function forwardUntilListening(child: ChildProcess, p: Proc): Promise<void> {
  const readyMsg = `"msg":"${p.script.split('/')[0]} listening"`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${p.name} did not start listening within 60 s`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      console.log(line);
      if (!line.includes(readyMsg)) return;
      clearTimeout(timer);
      resolve();
    });
  });
}

function howToConnect(embeddedMysql: boolean): string {
  const route = ROUTE_HTTP_PORT === 10800 ? '' : ` --route http://${LOOPBACK}:${ROUTE_HTTP_PORT}`;
  const env = embeddedMysql ? '' : 'MYSQL_URL=<same as above> ';
  return [
    `[start] up: access servers a (${LOOPBACK}:${ACCESS_PORT}) and b (${LOOPBACK}:${ACCESS_PORT + 1}), ` +
      `GET http://${LOOPBACK}:${ROUTE_HTTP_PORT}/msg_server picks one; images go to msfs at http://${LOOPBACK}:${MSFS_PORT}/` +
      (withPush ? `; push-server on ${LOOPBACK}:${PUSH_PORT}` : ' (no push-server: APNS_KEY_FILE / FCM_SERVICE_ACCOUNT_FILE unset)'),
    '[start] try it from two more shells:',
    `  ${env}npm run client -- --create-user alice secret     # operator shortcut: prints alice's user id`,
    `  ${env}npm run client -- --create-user bob secret`,
    `  npm run client --${route} --user alice --password secret      # then: /to <bob's id> hello`,
    `  npm run client --${route} --user bob --password secret        # /help lists the commands`,
  ].join('\n');
}

/** MYSQL_URL without a database means the `teamtalk` database. */
function withDefaultDatabase(url: string): string {
  const u = new URL(url);
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/teamtalk';
  return u.toString();
}


