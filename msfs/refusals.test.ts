/**
 * Refused uploads: TeamTalk's error codes in TeamTalk's answer shape, read
 * by the clients as failures, and nothing stored: neither a published file
 * nor a leftover in .tmp.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { androidReads, androidUpload, appleReads, appleUpload, jpeg, png, windowsUpload } from './teamtalk-clients.ts';
import { exchange, filesIn, RawConn, startTestMsfs, waitFor, type TestMsfs } from './test-kit.ts';

const failed = (code: number, msg = '格式错误'): string => `{"error_code":${code},"error_msg": "${msg}","path":"","url":""}`;
const TOO_LARGE = '{"error_code":1,"error_msg": "上传文件过大","url":""}';

/** A multipart request with the given body under boundary XyZ. */
function multipart(port: number, body: string, contentType = 'multipart/form-data; boundary=XyZ'): Buffer {
  const b = Buffer.from(body.replaceAll('\n', '\r\n'), 'latin1');
  const head = `POST / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: ${contentType}\r\nContent-Length: ${b.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

const filePart = (filename: string, data: string): string =>
  `--XyZ\nContent-Disposition: form-data; name="image"; filename="${filename}"\nContent-Type: image/jpeg\n\n${data}\n--XyZ--\n`;

async function assertNothingStored(s: TestMsfs): Promise<void> {
  await waitFor('uploads to settle', () => s.msfs.uploadsInProgress === 0);
  assert.deepEqual(await filesIn(s.root), []);
}

test('a declared length over the limit is answered at once, before the body, with no path key (as TeamTalk)', async (t) => {
  const s = await startTestMsfs(t, { MSFS_MAX_BYTES: '1024' });
  const req = androidUpload(s.port, png(), 'a.jpg');
  const head = Buffer.from(req.head.toString('latin1').replace(/Content-Length: \d+/, 'Content-Length: 10000000'), 'latin1');
  const conn = new RawConn(s.port);
  t.after(() => conn.destroy());
  await conn.write(head);
  const res = await conn.response();
  assert.ok(res);
  assert.equal(res.status, 200);
  assert.equal(res.body.toString('utf8'), TOO_LARGE);
  assert.equal(androidReads(res), '', 'Android reads an empty url: upload failed');
  await assertNothingStored(s);
});

test('a file over MSFS_MAX_BYTES in a body under the limit is refused while it streams; the stray CRLF does not count', async (t) => {
  const s = await startTestMsfs(t, { MSFS_MAX_BYTES: '4096' });
  const big = await exchange(s.port, appleUpload(s.port, jpeg(4096 - 21), 'image.png').whole);
  assert.equal(big.body.toString('utf8'), TOO_LARGE);
  assert.equal(appleReads(big), undefined);
  await assertNothingStored(s);
  // exactly the limit, plus the CRLF Android writes after it: stored
  const exact = await exchange(s.port, androidUpload(s.port, jpeg(4096 - 22), 'a.jpg').whole);
  assert.match(androidReads(exact), /\.jpg$/);
});

test('content that is not what its extension says, or a type not allowed, is refused with code 12', async (t) => {
  const s = await startTestMsfs(t);
  const html = Buffer.from('<html><script>alert(1)</script></html>');
  for (const [file, name] of [
    [html, 'photo.jpg'],
    [html, 'page.html'],
    [Buffer.from('#!AMR\n0123456789'), 'voice.jpg'],
    [Buffer.alloc(0), 'empty.png'],
    [Buffer.from([0xff, 0xd8]), 'short.jpg'],
  ] as const) {
    const res = await exchange(s.port, windowsUpload(s.port, file, Buffer.from(name)).whole);
    assert.equal(res.body.toString('utf8'), failed(12, '文件类型错误'), name);
  }
  await assertNothingStored(s);
});

test("TeamTalk's format errors keep their codes", async (t) => {
  const s = await startTestMsfs(t);
  const cases: [string, Buffer][] = [
    ['no Content-Disposition: 2', multipart(s.port, '--XyZ\nContent-Type: image/png\n\nabc\n--XyZ--\n')],
    ['no filename: 3', multipart(s.port, '--XyZ\nContent-Disposition: form-data; name="type"\n\nim_image\n--XyZ--\n')],
    ['not multipart: 4', multipart(s.port, 'a=b', 'application/x-www-form-urlencoded')],
    ['no boundary parameter: 4', multipart(s.port, filePart('a.jpg', 'x'), 'multipart/form-data')],
    ['boundary never appears: 5', multipart(s.port, 'just some bytes\n')],
    ['bad part header line: 7', multipart(s.port, '--XyZ\nthis is no header\n\nabc\n--XyZ--\n')],
    ['no closing delimiter: 8', multipart(s.port, filePart('a.jpg', '\xff\xd8\xff\xe0 0123456789').replace('--XyZ--\n', ''))],
    ['extension over 15 characters: 9', multipart(s.port, filePart('a.jpgjpgjpgjpgjpgjpg', 'x'))],
    ['no extension: 10', multipart(s.port, filePart('C:\\photos\\a.b\\photo', 'x'))],
    ['filename over 255 bytes: 11', multipart(s.port, filePart(`${'n'.repeat(252)}.jpg`, 'x'))],
  ];
  for (const [what, req] of cases) {
    const res = await exchange(s.port, req);
    assert.equal(res.status, 200, what);
    assert.equal(res.body.toString('utf8'), failed(Number(what.split(': ')[1])), what);
    assert.equal(res.headers['content-type'], 'text/html;charset=utf-8');
  }
  await assertNothingStored(s);
});

test('an upload cut mid-body leaves nothing: its temporary file is removed', async (t) => {
  const s = await startTestMsfs(t);
  const req = windowsUpload(s.port, jpeg(200_000), Buffer.from('a.jpg'));
  const conn = new RawConn(s.port);
  await conn.write(Buffer.concat([req.head, req.body.subarray(0, 100_000)]));
  await waitFor('the upload to be written to .tmp', async () => (await filesIn(s.root)).some((f) => f.startsWith('.tmp/')));
  conn.destroy();
  await assertNothingStored(s);
  const metrics = await (await fetch(`${s.url}metrics`)).text();
  assert.match(metrics, /^msfs_uploads_aborted_total 1$/m);
  assert.match(metrics, /^msfs_uploads_stored_total 0$/m);
});
