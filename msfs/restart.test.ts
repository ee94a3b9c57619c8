/**
 * Across restarts: stored files stay and are served again, what a crash
 * left in .tmp is removed at start, and close() lets an upload in progress
 * finish within its grace period and cuts one that does not, leaving
 * nothing behind.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { androidReads, androidUpload, gif, png } from './teamtalk-clients.ts';
import { exchange, filesIn, makeRoot, RawConn, startTestMsfs, waitFor } from './test-kit.ts';

test('files stay across a restart; a crashed upload left in .tmp is removed at start, published ones are not', async (t) => {
  const root = await makeRoot(t);
  const first = await startTestMsfs(t, {}, root);
  const image = gif(20_000);
  const url = androidReads(await exchange(first.port, androidUpload(first.port, image, 'a.gif').whole));
  assert.ok(url);
  const path = url.slice(first.url.length);
  await first.msfs.close(); // idempotent: the t.after close is harmless

  // what a crash mid-upload leaves: a partial file in .tmp
  await mkdir(join(root, '.tmp'), { recursive: true });
  await writeFile(join(root, '.tmp', 'crashed.part'), 'GIF89a half');
  const second = await startTestMsfs(t, {}, root);
  assert.deepEqual(await filesIn(root), [path.slice(3)]);
  const res = await fetch(second.url + path);
  assert.equal(res.status, 200);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(image));
});

test('close() lets an upload in progress finish and answers it; new connections are not accepted', async (t) => {
  const s = await startTestMsfs(t, { MSFS_SHUTDOWN_GRACE_MS: '5000' });
  const req = androidUpload(s.port, png(100_000), 'a.jpg');
  const conn = new RawConn(s.port);
  t.after(() => conn.destroy());
  await conn.write(Buffer.concat([req.head, req.body.subarray(0, 50_000)]));
  await waitFor('the upload to be admitted', () => s.msfs.uploadsInProgress === 1);

  let closed = false;
  const closing = s.msfs.close().then(() => (closed = true));
  const late = new RawConn(s.port);
  t.after(() => late.destroy());
  await assert.rejects(late.connected(), 'the listener is closed');
  assert.equal(closed, false, 'close() waits for the upload');

  await conn.write(req.body.subarray(50_000));
  const res = await conn.response();
  assert.ok(res);
  const url = androidReads(res);
  assert.match(url, /\.png$/);
  await closing;
  assert.deepEqual(await filesIn(s.root), [url.slice(s.url.length + 3)]);
});

test('close() cuts an upload that does not finish within the grace period; nothing is left', async (t) => {
  const s = await startTestMsfs(t, { MSFS_SHUTDOWN_GRACE_MS: '100' });
  const req = androidUpload(s.port, png(100_000), 'a.jpg');
  const conn = new RawConn(s.port);
  t.after(() => conn.destroy());
  await conn.write(Buffer.concat([req.head, req.body.subarray(0, 50_000)]));
  await waitFor('the upload to be written to .tmp', async () => (await filesIn(s.root)).some((f) => f.startsWith('.tmp/')));
  await s.msfs.close();
  await conn.whenClosed();
  assert.equal(s.msfs.uploadsInProgress, 0);
  assert.deepEqual(await filesIn(s.root), []);
});
