/**
 * Downloads: only paths msfs could have generated (traversal and anything
 * outside the layout refused), correct types and lengths, HEAD, ranges,
 * conditional requests; and the operations endpoints on the same port.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { prefixReads, jpeg, windowsUpload } from './teamtalk-clients.ts';
import { exchange, RawConn, startTestMsfs, type TestMsfs } from './test-kit.ts';

async function stored(t: Parameters<typeof startTestMsfs>[0]): Promise<{ s: TestMsfs; path: string; image: Buffer }> {
  const s = await startTestMsfs(t);
  const image = jpeg(10_000);
  const url = prefixReads(await exchange(s.port, windowsUpload(s.port, image, Buffer.from('a.jpg')).whole), s.url);
  assert.ok(url);
  return { s, path: `/${url.slice(s.url.length)}`, image };
}

const get = (s: TestMsfs, target: string, extra = '', method = 'GET') =>
  exchange(s.port, Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n${extra}\r\n`, 'latin1'));

test('a stored file comes back byte for byte, typed, with its length; HEAD says the same without the body', async (t) => {
  const { s, path, image } = await stored(t);
  const res = await get(s, path);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'image/jpeg');
  assert.equal(res.headers['content-length'], String(image.length));
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.ok(res.body.equals(image));
  assert.equal((await get(s, `${path}?t=123`)).status, 200, 'a query is ignored');

  // HEAD then GET on one connection: a body after the HEAD answer would be read as the next answer
  const conn = new RawConn(s.port);
  t.after(() => conn.destroy());
  await conn.write(`HEAD ${path} HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
  const head = await conn.response(true);
  assert.equal(head?.status, 200);
  assert.equal(head.headers['content-length'], String(image.length));
  assert.equal((await conn.response())?.headers['content-type'], 'application/json');
});

test('traversal and what no client sends are 400; anything outside the layout is 404', async (t) => {
  const { s, path } = await stored(t);
  const [, , first, second, name] = path.split('/') as [string, string, string, string, string];
  // something msfs must never serve, where a traversal would find it
  await writeFile(join(s.root, 'secret.jpg'), 'secret');
  await writeFile(join(s.root, '.tmp', 'upload.part'), 'half');
  const bad400 = [
    `/g0/${first}/${second}/../../secret.jpg`,
    `/g0/${first}/../${first}/${name}`,
    `/g0/${first}/${second}/..%2F..%2Fsecret.jpg`,
    `/g0/${first}/${second}/%2e%2e`,
    `/g0\\${first}\\${second}\\${name}`,
    `/g0/${first}/${second}/${name}\x01`,
    `http://127.0.0.1:${s.port}${path}`,
    `*`,
  ];
  for (const target of bad400) assert.equal((await get(s, target)).status, 400, target);
  const bad404 = [
    '/',
    '/secret.jpg',
    '/g0/secret.jpg',
    `/g1/${first}/${second}/${name}`,
    `/${first}/${second}/${name}`,
    `//g0/${first}/${second}/${name}`,
    `/g0/${first}/${second}/${name}/`,
    `/g0/256/${second}/${name}`,
    `/g0/${first}/${second}/.tmp`,
    '/g0/.tmp/upload.part',
    '/.tmp/upload.part',
    `/g0/${first}/${second}/passwd`,
    `/g0/${first}/${second}/${name.replace(/^\d/, 'x')}`,
    `/g0/${first}/${second}/1_${'a'.repeat(32)}.jpg`,
  ];
  for (const target of bad404) {
    const res = await get(s, target);
    assert.equal(res.status, 404, target);
    assert.ok(!res.body.includes('secret') && !res.body.includes('half'));
  }
});

test('one byte range: 206 with Content-Range; a suffix; past the end 416; several ranges get the whole file', async (t) => {
  const { s, path, image } = await stored(t);
  const first = await get(s, path, 'Range: bytes=0-9\r\n');
  assert.equal(first.status, 206);
  assert.equal(first.headers['content-range'], `bytes 0-9/${image.length}`);
  assert.ok(first.body.equals(image.subarray(0, 10)));
  const tail = await get(s, path, 'Range: bytes=-5\r\n');
  assert.ok(tail.body.equals(image.subarray(-5)));
  const open = await get(s, path, 'Range: bytes=100-\r\n');
  assert.ok(open.body.equals(image.subarray(100)));
  const past = await get(s, path, `Range: bytes=${image.length}-\r\n`);
  assert.equal(past.status, 416);
  assert.equal(past.headers['content-range'], `bytes */${image.length}`);
  const many = await get(s, path, 'Range: bytes=0-1,5-6\r\n');
  assert.equal(many.status, 200);
  assert.ok(many.body.equals(image));
});

test('conditional requests: If-None-Match and If-Modified-Since answer 304; a stale If-Range gets the whole file', async (t) => {
  const { s, path, image } = await stored(t);
  const first = await get(s, path);
  const etag = first.headers.etag ?? '';
  assert.match(etag, /^"[0-9a-f]+-[0-9a-f]+"$/);
  assert.equal(first.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal((await get(s, path, `If-None-Match: ${etag}\r\n`)).status, 304);
  assert.equal((await get(s, path, `If-Modified-Since: ${first.headers['last-modified']}\r\n`)).status, 304);
  assert.equal((await get(s, path, 'If-None-Match: "other"\r\n')).status, 200);
  const stale = await get(s, path, 'Range: bytes=0-9\r\nIf-Range: "other"\r\n');
  assert.equal(stale.status, 200);
  assert.ok(stale.body.equals(image));
});

test('GET /healthz and GET /metrics on the same port; other methods 405', async (t) => {
  const { s } = await stored(t);
  const health = await get(s, '/healthz');
  assert.equal(health.status, 200);
  assert.deepEqual(JSON.parse(health.body.toString()), { ok: true, uploads: 0 });
  const metrics = (await get(s, '/metrics')).body.toString();
  for (const line of [/^msfs_uploads_stored_total 1$/m, /^msfs_downloads_total 0$/m, /^msfs_process_resident_memory_bytes \d+$/m]) {
    assert.match(metrics, line);
  }
  assert.match(metrics, /^# TYPE msfs_uploads_in_progress gauge$/m);
  const put = await get(s, '/g0/000/000/x.jpg', 'Content-Length: 0\r\n', 'PUT');
  assert.equal(put.status, 405);
  assert.equal(put.headers.allow, 'GET, HEAD, POST');
});
