/**
 * Uploads exactly as each TeamTalk client sends them, answers read as each
 * client reads them, the image message a client then sends, and the
 * download of what that message names.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  androidReads,
  androidUpload,
  appleReads,
  appleUpload,
  gif,
  IMAGE_END,
  IMAGE_START,
  imageUrlOf,
  jpeg,
  phpUpload,
  png,
  prefixReads,
  windowsUpload,
} from './teamtalk-clients.ts';
import { exchange, filesIn, RawConn, startTestMsfs, type RawResponse } from './test-kit.ts';

const PATH = /^g0\/\d{3}\/\d{3}\/\d{16}_[0-9a-f]{32}(_\d+x\d+)?\.(jpg|png|gif)$/;

/** The answer, in TeamTalk's exact bytes (msfs HttpConn.cpp), for a stored `path`. */
function assertTeamTalkAnswer(res: RawResponse, url: string): string {
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/html;charset=utf-8');
  const path = (JSON.parse(res.body.toString('utf8')) as { path: string }).path;
  assert.match(path, PATH);
  assert.equal(res.body.toString('utf8'), `{"error_code":0,"error_msg": "成功","path":"${path}","url":"${url}${path}"}`);
  return path;
}

async function download(url: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
}

test('Android: a PNG re-encoded under the photo name, its own CRLF after the file, read by url', async (t) => {
  const { port, url, root } = await startTestMsfs(t);
  const image = png(300_000);
  const res = await exchange(port, androidUpload(port, image, 'IMG_20150101_120000.jpg').whole);
  const path = assertTeamTalkAnswer(res, url);
  assert.match(path, /\.png$/, 'stored under the kind its bytes say');
  const imageUrl = androidReads(res);
  assert.equal(imageUrl, url + path);
  const content = IMAGE_START + imageUrl + IMAGE_END;
  const got = await download(imageUrlOf(content));
  assert.equal(got.status, 200);
  assert.equal(got.type, 'image/png');
  assert.ok(got.bytes.equals(image), 'the CRLF Android adds after the file is not part of the image');
  assert.deepEqual(await filesIn(root), [path.slice(3)]);
});

test('Android: a GIF sent as it is', async (t) => {
  const { port, url } = await startTestMsfs(t);
  const image = gif(5000);
  const res = await exchange(port, androidUpload(port, image, 'funny.gif').whole);
  const path = assertTeamTalkAnswer(res, url);
  assert.match(path, /\.gif$/);
  const got = await download(androidReads(res));
  assert.equal(got.type, 'image/gif');
  assert.ok(got.bytes.equals(image));
});

test('iOS and Mac: JPEG bytes as image.png_WxH.png and image.png, field type=im_image first, read by url', async (t) => {
  const { port, url } = await startTestMsfs(t);
  const image = jpeg(200_000);
  const ios = await exchange(port, appleUpload(port, image, 'image.png_640x480.png').whole);
  const iosPath = assertTeamTalkAnswer(ios, url);
  assert.match(iosPath, /_640x480\.jpg$/, "TeamTalk's size suffix is kept, the extension is the real one");
  const iosUrl = appleReads(ios);
  assert.equal(iosUrl, url + iosPath);
  const got = await download(imageUrlOf(`${IMAGE_START}${iosUrl}${IMAGE_END}`));
  assert.equal(got.type, 'image/jpeg');
  assert.ok(got.bytes.equals(image));

  // iOS formats CGFloat sizes with %d: what comes out is garbage, too long to be a size
  const garbled = await exchange(port, appleUpload(port, image, 'image.png_1606411872x-1073741824.png').whole);
  assert.match(assertTeamTalkAnswer(garbled, url), /\d_[0-9a-f]{32}\.jpg$/);

  const mac = await exchange(port, appleUpload(port, image, 'image.png').whole);
  const macUrl = appleReads(mac);
  assert.ok(macUrl);
  assert.ok((await download(macUrl)).bytes.equals(image));
});

test('Windows: POST /upload/, Host: without a space, image/.jpg, a GBK filename; path after msfsPrior is the url', async (t) => {
  const { port, url } = await startTestMsfs(t);
  const image = jpeg(100_000);
  // "截图" in GBK, then what the client appends: _<w>x<h><ext>
  const name = Buffer.concat([Buffer.from([0xbd, 0xd8, 0xcd, 0xbc]), Buffer.from('.jpg_1024x768.jpg')]);
  const res = await exchange(port, windowsUpload(port, image, name).whole);
  const path = assertTeamTalkAnswer(res, url);
  assert.match(path, /_1024x768\.jpg$/);
  const built = prefixReads(res, url.slice(0, -1));
  assert.equal(built, url + path, 'the URL Windows builds is the one the others get');
  assert.ok((await download(built)).bytes.equals(image));
});

test('PHP admin: curl with Expect: 100-continue; avatars asked for with _100x100.jpg get the stored file', async (t) => {
  const { port, url } = await startTestMsfs(t);
  const avatar = png(2000);
  const req = phpUpload(port, avatar, '1700000000.png');
  const conn = new RawConn(port);
  t.after(() => conn.destroy());
  await conn.write(req.head);
  assert.ok(await conn.sees('HTTP/1.1 100 Continue\r\n\r\n'), 'the body is asked for only once the upload is admitted');
  await conn.write(req.body);
  const res = await conn.response();
  assert.ok(res);
  assert.deepEqual(res.interim, [100]);
  const stored = prefixReads(res, url);
  assert.ok(stored);
  assertTeamTalkAnswer(res, url);
  for (const size of ['_100x100.jpg', '_200x200.jpg', '_310x310.jpg']) {
    const got = await download(stored + size);
    assert.equal(got.status, 200, size);
    assert.equal(got.type, 'image/png');
    assert.ok(got.bytes.equals(avatar));
  }
});

test('MSFS_PUBLIC_URL is what answers carry, whatever the Host header says', async (t) => {
  const { port } = await startTestMsfs(t, { MSFS_PUBLIC_URL: 'https://img.example.com/msfs' });
  const res = await exchange(port, androidUpload(port, png(), 'a.png').whole);
  assertTeamTalkAnswer(res, 'https://img.example.com/msfs/');
});

test('on every interface without MSFS_PUBLIC_URL, the answer names the host the client used, as TeamTalk does', async (t) => {
  const { port } = await startTestMsfs(t, { MSFS_HOST: '0.0.0.0' });
  const req = androidUpload(port, png(), 'a.png');
  const viaName = Buffer.from(req.whole.toString('latin1').replace(`Host: 127.0.0.1:${port}`, 'Host: files.lan:8700'), 'latin1');
  assertTeamTalkAnswer(await exchange(port, viaName), 'http://files.lan:8700/');
  const bad = Buffer.from(req.whole.toString('latin1').replace(`Host: 127.0.0.1:${port}`, 'Host: a"b'), 'latin1');
  assertTeamTalkAnswer(await exchange(port, bad), `http://127.0.0.1:${port}/`);
});
