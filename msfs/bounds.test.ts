/**
 * What bounds a public msfs: uploads and connections per source address,
 * body bytes of all uploads in progress, slow headers, slow bodies.
 * Sources differ by local address (127.0.0.1 and 127.0.0.2: Linux routes
 * all of 127/8 to loopback).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { androidReads, androidUpload, jpeg, png } from './teamtalk-clients.ts';
import { filesIn, RawConn, startTestMsfs, waitFor, type RawResponse } from './test-kit.ts';

const BUSY = '{"error_code":13,"error_msg": "服务器忙","path":"","url":""}';

/** One request from local address `from`, its answer. */
async function upload(port: number, from: string, req: Buffer): Promise<RawResponse> {
  const conn = new RawConn(port, from);
  try {
    await conn.write(req);
    const res = await conn.response();
    assert.ok(res, 'answered');
    return res;
  } finally {
    conn.destroy();
  }
}

const healthz = (port: number): Buffer => Buffer.from(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);

test('uploads per source: one more from the same address is refused 429, another address goes on', async (t) => {
  const s = await startTestMsfs(t, { MSFS_MAX_UPLOADS_PER_IP: '1' });
  const slow = androidUpload(s.port, png(50_000), 'slow.jpg');
  const first = new RawConn(s.port, '127.0.0.1');
  t.after(() => first.destroy());
  await first.write(Buffer.concat([slow.head, slow.body.subarray(0, 1000)]));
  await waitFor('the first upload to be admitted', () => s.msfs.uploadsInProgress === 1);

  const same = await upload(s.port, '127.0.0.1', androidUpload(s.port, png(), 'b.jpg').whole);
  assert.equal(same.status, 429);
  assert.equal(same.headers['retry-after'], '1');
  assert.equal(same.body.toString('utf8'), BUSY);
  assert.equal(androidReads(same), '');

  const other = await upload(s.port, '127.0.0.2', androidUpload(s.port, png(), 'c.jpg').whole);
  assert.match(androidReads(other), /\.png$/);

  await first.write(slow.body.subarray(1000));
  const done = await first.response();
  assert.ok(done);
  assert.match(androidReads(done), /\.png$/);
  assert.equal((await filesIn(s.root)).length, 2);
});

test('connections per source: one over the bound is cut on arrival; others and other sources are served', async (t) => {
  const s = await startTestMsfs(t, { MSFS_MAX_CONNECTIONS_PER_IP: '2', MSFS_MAX_UPLOADS_PER_IP: '1' });
  const conns = ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.2'].map((from) => new RawConn(s.port, from));
  t.after(() => conns.forEach((c) => c.destroy()));
  const [a, b, c, d] = conns as [RawConn, RawConn, RawConn, RawConn];
  for (const conn of [a, b]) {
    await conn.connected();
    await conn.write(healthz(s.port));
    assert.equal((await conn.response())?.status, 200);
  }
  await c.whenClosed();
  assert.equal(await c.response(), undefined);
  await d.write(healthz(s.port));
  assert.equal((await d.response())?.status, 200);
  const metrics = await upload(s.port, '127.0.0.2', Buffer.from(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`));
  assert.match(metrics.body.toString(), /^msfs_connections_refused_total 1$/m);

  a.destroy();
  await waitFor('a connection from 127.0.0.1 to be served again', async () => {
    const e = new RawConn(s.port, '127.0.0.1');
    try {
      await e.write(healthz(s.port)).catch(() => undefined);
      return (await e.response())?.status === 200;
    } finally {
      e.destroy();
    }
  });
});

test('body bytes in progress: an upload of unknown length reserves the most a body may be; the next is refused 503', async (t) => {
  const s = await startTestMsfs(t, { MSFS_MAX_BYTES: '1024', MSFS_MAX_INFLIGHT_BYTES: String(1024 + 64 * 1024) });
  const req = androidUpload(s.port, jpeg(500), 'a.jpg');
  const chunkedHead = Buffer.from(
    req.head.toString('latin1').replace(/Content-Length: \d+/, 'Transfer-Encoding: chunked'),
    'latin1',
  );
  const chunk = (b: Buffer): Buffer => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
  const first = new RawConn(s.port, '127.0.0.1');
  t.after(() => first.destroy());
  await first.write(Buffer.concat([chunkedHead, chunk(req.body.subarray(0, 100))]));
  await waitFor('the chunked upload to be admitted', () => s.msfs.uploadsInProgress === 1);

  const refused = await upload(s.port, '127.0.0.2', androidUpload(s.port, png(), 'b.jpg').whole);
  assert.equal(refused.status, 503);
  assert.equal(refused.body.toString('utf8'), BUSY);

  await first.write(Buffer.concat([chunk(req.body.subarray(100)), Buffer.from('0\r\n\r\n')]));
  const done = await first.response();
  assert.ok(done);
  assert.match(androidReads(done), /\.jpg$/);
});

test('headers that never finish get 408 and the connection closed', async (t) => {
  const s = await startTestMsfs(t, { MSFS_HEADERS_TIMEOUT_MS: '200', MSFS_REQUEST_TIMEOUT_MS: '200' });
  const conn = new RawConn(s.port);
  t.after(() => conn.destroy());
  const t0 = Date.now();
  await conn.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nContent-Type: multipart/form-data; boundary=x\r\n`);
  const res = await conn.response();
  assert.equal(res?.status, 408);
  await conn.whenClosed();
  assert.ok(Date.now() - t0 < 2000);
});

test('a body that stalls is cut at MSFS_REQUEST_TIMEOUT_MS and leaves nothing', async (t) => {
  const s = await startTestMsfs(t, { MSFS_HEADERS_TIMEOUT_MS: '300', MSFS_REQUEST_TIMEOUT_MS: '300' });
  const req = androidUpload(s.port, jpeg(50_000), 'a.jpg');
  const conn = new RawConn(s.port);
  t.after(() => conn.destroy());
  await conn.write(Buffer.concat([req.head, req.body.subarray(0, 20_000)]));
  await waitFor('the upload to be admitted', () => s.msfs.uploadsInProgress === 1);
  await conn.whenClosed();
  await waitFor('the upload to be dropped', () => s.msfs.uploadsInProgress === 0);
  assert.deepEqual(await filesIn(s.root), []);
});
