/**
 * Redis Cluster is not supported yet (the counter scripts span slots):
 * db-proxy refuses to start on a cluster node, or with REDIS_CLUSTER=1,
 * naming the setting, instead of failing request by request.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorCode, isImError } from '../common/errors.ts';
import { loadConfig } from '../db-proxy/config.ts';
import { freePort } from '../scripts/stack-process.ts';
import { startTestDbProxy } from './helpers/db-proxy.ts';
import { createTestStorage, type TestStorage } from './helpers/storage.ts';

let storage: TestStorage;
let node: ChildProcess;
let port = 0;
const dir = mkdtempSync(join(tmpdir(), 'tt-redis-cluster-'));

before(async () => {
  storage = await createTestStorage({ shards: 8 });
  port = await freePort();
  node = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const deadline = Date.now() + 5000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => (c.end(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (ok) break;
    assert.ok(Date.now() < deadline, 'redis-server in cluster mode did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
});
after(async () => {
  node?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  await storage?.cleanup();
});

test('a Redis Cluster node as REDIS_URL is refused at start, naming REDIS_URL', async () => {
  await assert.rejects(startTestDbProxy({ REDIS_URL: `redis://127.0.0.1:${port}` }, storage), (err) => {
    assert.ok(isImError(err, ErrorCode.BAD_CONFIG), String(err));
    assert.match((err as Error).message, /REDIS_URL .* is a Redis Cluster node: not supported yet/);
    return true;
  });
});

test('REDIS_CLUSTER=1 is refused as a setting', () => {
  assert.throws(() => loadConfig({ MYSQL_URL: storage.mysqlUrl, REDIS_URL: storage.redisUrl, REDIS_CLUSTER: '1' }), /REDIS_CLUSTER: Redis Cluster is not supported yet/);
});
