/**
 * npm start — the whole cluster on one machine. Storage is MYSQL_URL /
 * REDIS_URL when set, else a private MariaDB and Redis under .stack/default
 * (started here, stopped on exit). Migrates the schema, then starts every
 * process as a child and prints what runs where. Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { intFromEnv } from '../common/config.ts';
import { migrate } from '../schema/migrate.ts';
import { DEFAULT_STACK_DIR, REPO_ROOT, resolveStorage } from './stack.ts';

interface Proc {
  name: string;
  script: string;
  env: Record<string, string>;
}

/** The cluster's processes, in start order. */
const PROCESSES: Proc[] = [
  { name: 'db-proxy', script: 'db-proxy/main.ts', env: { DB_PROXY_PORT: process.env.DB_PROXY_PORT ?? '10600' } },
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
  const result = await migrate({ url: mysqlUrl, shards });
  console.log(`[start] schema: database ${result.database}, ${result.applied.length} migration(s) applied, ${shards} shards`);
  console.log(`[start] MySQL ${storage.started.mysql ? '(embedded)' : '(MYSQL_URL)'}: ${redact(mysqlUrl)}`);
  console.log(`[start] Redis ${storage.started.redis ? '(embedded)' : '(REDIS_URL)'}: ${redact(storage.redisUrl)}`);
  const common = { MYSQL_URL: mysqlUrl, REDIS_URL: storage.redisUrl, SHARDS: String(shards) };
  for (const p of processes(common)) {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, p.script)], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...p.env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('exit', (code, signal) => {
      if (stopping) return;
      console.error(`[start] ${p.name} exited (${signal ?? code}); stopping the cluster`);
      void stop(1);
    });
    children.push(child);
    console.log(`[start] ${p.name}: pid ${child.pid}`);
  }
  console.log('[start] running; Ctrl-C stops everything');
} catch (err) {
  console.error(`[start] ${err instanceof Error ? err.message : String(err)}`);
  await stop(1);
}

/** The processes of the cluster, with their own settings. */
function processes(common: Record<string, string>): Proc[] {
  return PROCESSES.map((p) => ({ ...p, env: { ...common, ...p.env } }));
}

/** MYSQL_URL without a database means the `teamtalk` database. */
function withDefaultDatabase(url: string): string {
  const u = new URL(url);
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/teamtalk';
  return u.toString();
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

