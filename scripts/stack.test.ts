import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { isAlive, waitUntil } from './stack-process.ts';
import { resolveStorage, startStack } from './stack.ts';

const STACK_MODULE = fileURLToPath(new URL('./stack.ts', import.meta.url));

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
  });
}

describe('embedded stack', { timeout: 60_000 }, () => {
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'tt-stack-test-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('starts MariaDB and Redis, then stops both leaving no process behind', async () => {
    const dir = await tempDir();
    const stack = await startStack({ dir, ephemeral: true });
    const { mysql: mysqlPid, redis: redisPid } = stack.pids;
    let stopped = false;
    try {
      const conn = await mysql.createConnection({ uri: stack.mysqlUrl });
      const [rows] = await conn.query<RowDataPacket[]>('SELECT @@innodb_flush_log_at_trx_commit AS f, DATABASE() AS db');
      assert.deepEqual([Number(rows[0]?.f), rows[0]?.db], [1, 'teamtalk']);
      await conn.end();
      const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 1 });
      assert.equal(await redis.ping(), 'PONG');
      assert.deepEqual(await redis.config('GET', 'appendonly'), ['appendonly', 'yes'], 'Redis keeps an append-only file');
      assert.deepEqual(await redis.config('GET', 'appendfsync'), ['appendfsync', 'everysec']);
      redis.disconnect();

      await stack.stop();
      stopped = true;
    } finally {
      if (!stopped) await stack.stop();
    }
    for (const pid of [mysqlPid, redisPid]) {
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `pid ${pid} is gone`);
    }
    assert.ok(await portRefuses(Number(new URL(stack.mysqlUrl).port)), 'MySQL port closed');
    assert.ok(await portRefuses(Number(new URL(stack.redisUrl).port)), 'Redis port closed');
    assert.ok(!existsSync(dir), 'ephemeral folder removed');
  });

  it('stops the servers when the process that started them is killed', async () => {
    const dir = await tempDir();
    const script = `
      import { startStack } from ${JSON.stringify(STACK_MODULE)};
      const s = await startStack({ dir: ${JSON.stringify(dir)}, ephemeral: true });
      console.log(JSON.stringify(s.pids));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`stack owner exited early with code ${code}`)));
      });
      const pids = JSON.parse(line) as { mysql: number; redis: number };
      assert.ok(isAlive(pids.mysql) && isAlive(pids.redis));
      child.kill('SIGKILL');
      const gone = await waitUntil(() => !isAlive(pids.mysql) && !isAlive(pids.redis), 20_000, 100);
      assert.ok(gone, 'watchdog stopped both servers');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('starts nothing when both URLs are given', async () => {
    const storage = await resolveStorage({ MYSQL_URL: 'mysql://root@127.0.0.1:1/x', REDIS_URL: 'redis://127.0.0.1:1' });
    assert.deepEqual(storage.started, { mysql: false, redis: false });
    assert.equal(storage.mysqlUrl, 'mysql://root@127.0.0.1:1/x');
    await storage.stop();
  });
});
