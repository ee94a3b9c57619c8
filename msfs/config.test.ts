/** msfs's settings: TeamTalk's defaults, and a bad value fails naming its variable. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isImError } from '../common/errors.ts';
import { DEFAULT_ROOT, loadConfig, MULTIPART_OVERHEAD_BYTES } from './config.ts';

test("defaults: loopback on TeamTalk's port 8700, files under .stack/msfs, 5 MiB images, bounded per source", () => {
  const c = loadConfig({});
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 8700);
  assert.equal(c.root, DEFAULT_ROOT);
  assert.match(c.root, /[/\\]\.stack[/\\]msfs$/);
  assert.equal(c.publicUrl, undefined);
  assert.equal(c.maxFileBytes, 5 * 1024 * 1024);
  assert.equal(c.maxRequestBytes, c.maxFileBytes + MULTIPART_OVERHEAD_BYTES);
  assert.deepEqual([...c.types.keys()], ['jpg', 'png', 'gif', 'webp', 'bmp']);
  assert.ok(c.maxUploadsPerIp >= 1 && c.maxConnectionsPerIp >= c.maxUploadsPerIp);
  assert.ok(Object.isFrozen(c));
});

test('values: a relative root against the working directory, a public URL gets its slash, types by any alias', () => {
  const c = loadConfig({ MSFS_ROOT: 'data/msfs', MSFS_PUBLIC_URL: 'https://img.example.com/msfs', MSFS_TYPES: ' .JPEG, png,amr ' }, '/srv/im');
  assert.equal(c.root, '/srv/im/data/msfs');
  assert.equal(c.publicUrl, 'https://img.example.com/msfs/');
  assert.deepEqual([...c.types.keys()], ['jpg', 'png', 'amr']);
  assert.equal(loadConfig({ MSFS_ROOT: '/var/msfs' }).root, '/var/msfs');
  // A short request bound alone brings the header bound down with it.
  assert.equal(loadConfig({ MSFS_REQUEST_TIMEOUT_MS: '5000' }).headersTimeoutMs, 5000);
});

test('a bad value fails at start-up with IM_ERR_BAD_CONFIG naming the variable', () => {
  const bad: [Record<string, string>, string][] = [
    [{ MSFS_PORT: '70000' }, 'MSFS_PORT'],
    [{ MSFS_PORT: 'http' }, 'MSFS_PORT'],
    [{ MSFS_MAX_BYTES: '10' }, 'MSFS_MAX_BYTES'],
    [{ MSFS_TYPES: 'jpg,exe' }, 'MSFS_TYPES'],
    [{ MSFS_TYPES: ',' }, 'MSFS_TYPES'],
    [{ MSFS_PUBLIC_URL: 'ftp://x/' }, 'MSFS_PUBLIC_URL'],
    [{ MSFS_PUBLIC_URL: 'http://x/?a=1' }, 'MSFS_PUBLIC_URL'],
    [{ MSFS_MAX_INFLIGHT_BYTES: '2048' }, 'MSFS_MAX_INFLIGHT_BYTES'],
    [{ MSFS_MAX_UPLOADS_PER_IP: '10', MSFS_MAX_CONNECTIONS_PER_IP: '5' }, 'MSFS_MAX_CONNECTIONS_PER_IP'],
    [{ MSFS_HEADERS_TIMEOUT_MS: '5000', MSFS_REQUEST_TIMEOUT_MS: '1000' }, 'MSFS_HEADERS_TIMEOUT_MS'],
  ];
  for (const [env, name] of bad) {
    assert.throws(() => loadConfig(env), (err: unknown) => isImError(err, 'IM_ERR_BAD_CONFIG') && err.message.includes(name), name);
  }
});
