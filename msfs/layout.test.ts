/**
 * Names, paths and kinds without a server: what a stored name looks like
 * and that a download finds it, TeamTalk's filename checks and size
 * suffix, and recognition of files by their first bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UploadCode } from './answer.ts';
import { contentTypeOf, endsWithStrayCrlf, kindByExtension, resolveKind, type FileKind } from './file-types.ts';
import { checkFilename, newStoredName, parseDownloadPath, sizeSuffixOf } from './layout.ts';
import { gif, jpeg, png } from './teamtalk-clients.ts';

const kinds = (...exts: string[]): Map<string, FileKind> => new Map(exts.map((e) => [e, kindByExtension(e) as FileKind]));
const IMAGES = kinds('jpg', 'png', 'gif', 'webp', 'bmp');

test("a new name is in TeamTalk's layout, unguessable, and the download path finds it", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const n = newStoredName('jpg', i % 2 ? '_640x480' : '');
    assert.match(n.path, /^g0\/\d{3}\/\d{3}\/\d{16}_[0-9a-f]{32}(_640x480)?\.jpg$/);
    assert.ok(Number(n.first) <= 255 && Number(n.second) <= 255);
    assert.deepEqual(parseDownloadPath(`/${n.path}`), { ok: true, first: n.first, second: n.second, name: n.name, ext: 'jpg' });
    seen.add(n.name);
  }
  assert.equal(seen.size, 200);
});

test("TeamTalk's own names (usec_threadid[_WxH].ext) are served from an existing BaseDir", () => {
  for (const name of ['1410706133246550_140184328214.jpg', '1410706133246550_140184328214_640x480.JPG', '1_2.amr']) {
    const p = parseDownloadPath(`/g0/000/255/${name}`);
    assert.ok(p.ok, name);
    assert.equal(p.name, name);
  }
});

test('size variants: the stored file under its own name and type; a stored suffix stays part of the name', () => {
  const p = parseDownloadPath('/g0/001/002/1_abc.png_100x100.jpg');
  assert.deepEqual(p, { ok: true, first: '001', second: '002', name: '1_abc.png', ext: 'png' });
  const own = parseDownloadPath('/g0/001/002/1_abc_640x480.jpg');
  assert.ok(own.ok);
  assert.equal(own.name, '1_abc_640x480.jpg');
  const both = parseDownloadPath('/g0/001/002/1_abc_640x480.jpg_200x200.jpg');
  assert.ok(both.ok);
  assert.equal(both.name, '1_abc_640x480.jpg');
  assert.deepEqual(parseDownloadPath('/g0/001/002/x.png_100x100.jpg'), { ok: false, status: 404 });
});

test('bad targets: 400 for what no client sends, 404 outside the layout', () => {
  for (const t of ['/g0/000/000/../1_a.jpg', '/g0/000/000/1_a%2ejpg', '/g0\\000\\000\\1_a.jpg', '/g0/000/000/1_a.jpg\x00', '/g0/000/000/1 a.jpg', 'g0/000/000/1_a.jpg', '/g0/000/000/1_\u00e9.jpg']) {
    assert.deepEqual(parseDownloadPath(t), { ok: false, status: 400 }, t);
  }
  for (const t of ['/', '/g0', '/g0/000/000', '/g0/000/000/', '/g0/00/000/1_a.jpg', '/g0/256/000/1_a.jpg', '/g0/000/000/1_a.jpg/x', '/g0/000/000/.1_a.jpg', '/g0/000/000/1_a', '/g0/000/000/a_1.jpg', `/g0/000/000/1_${'a'.repeat(33)}.jpg`, '/g0/000/000/1_a.abcdefghijklmnop']) {
    assert.deepEqual(parseDownloadPath(t), { ok: false, status: 404 }, t);
  }
  assert.ok(parseDownloadPath('/g0/000/000/1_a.jpg?x=../..').ok, 'the query is not part of the path');
});

test("the size suffix as TeamTalk's msfs takes it from a filename", () => {
  const cases: [string, string][] = [
    ['photo.jpg_640x480.jpg', '_640x480'],
    ['image.png_0640x0480.png', '_640x480'],
    ['image.png_0x0.png', '_0x0'],
    ['image.png_12345x1.png', ''],
    ['image.png_-1x1.png', ''],
    ['IMG_20150101_120000.jpg', ''],
    ['my_photo.jpg', ''],
    ['a_1x2.b_c.jpg', ''],
  ];
  for (const [name, suffix] of cases) assert.equal(sizeSuffixOf(name), suffix, name);
});

test("the filename checks, in TeamTalk's order, then the allowed types", () => {
  assert.deepEqual(checkFilename('C:\\Users\\me\\photo.JPG_1x2.JPG', IMAGES), { ok: true, ext: 'JPG', sizeSuffix: '_1x2' });
  assert.deepEqual(checkFilename('/sdcard/a.jpeg', IMAGES), { ok: true, ext: 'jpeg', sizeSuffix: '' });
  const refused: [string, number][] = [
    [`${'x'.repeat(256)}`, UploadCode.NAME_TOO_LONG],
    ['photo', UploadCode.NO_EXT],
    ['a.b/photo', UploadCode.NO_EXT],
    ['a.abcdefghijklmnop', UploadCode.EXT_TOO_LONG],
    ['a.exe', UploadCode.BAD_TYPE],
    ['a.amr', UploadCode.BAD_TYPE],
  ];
  for (const [name, code] of refused) assert.deepEqual(checkFilename(name, IMAGES), { ok: false, code }, name);
  assert.deepEqual(checkFilename('voice.amr', kinds('amr')), { ok: true, ext: 'amr', sizeSuffix: '' });
});

test('kinds by first bytes: images by what they are, anything else exactly what it says', () => {
  assert.equal(resolveKind('jpg', png(), IMAGES)?.ext, 'png', 'Android: PNG bytes under .jpg');
  assert.equal(resolveKind('png', jpeg(), IMAGES)?.ext, 'jpg', 'iOS: JPEG bytes under .png');
  assert.equal(resolveKind('gif', gif(), IMAGES)?.ext, 'gif');
  assert.equal(resolveKind('webp', Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 '), IMAGES)?.ext, 'webp');
  assert.equal(resolveKind('bmp', Buffer.from('BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00', 'latin1'), IMAGES)?.ext, 'bmp');
  assert.equal(resolveKind('bmp', Buffer.from('BMxxxxxxxxxx'), IMAGES), undefined, 'BM alone is not a bitmap');
  assert.equal(resolveKind('jpg', Buffer.from('<html><body>'), IMAGES), undefined);
  assert.equal(resolveKind('jpg', gif(), kinds('jpg', 'png')), undefined, 'a GIF where GIFs are not allowed');
  assert.equal(resolveKind('exe', jpeg(), IMAGES), undefined);
  const audio = kinds('amr', 'mp3', 'jpg');
  assert.equal(resolveKind('amr', Buffer.from('#!AMR\n'), audio)?.ext, 'amr');
  assert.equal(resolveKind('amr', Buffer.from('ID3\x03'), audio), undefined, 'audio must be exactly what it says');
  assert.equal(resolveKind('amr', jpeg(), audio), undefined);
});

test("the CRLF Android writes after a file is recognised by the format's end, and only then", () => {
  const crlf = Buffer.from('\r\n');
  const jpg = kindByExtension('jpg') as FileKind;
  const pngKind = kindByExtension('png') as FileKind;
  assert.equal(endsWithStrayCrlf(jpg, Buffer.concat([jpeg(), crlf]).subarray(-16)), true);
  assert.equal(endsWithStrayCrlf(jpg, jpeg().subarray(-16)), false);
  assert.equal(endsWithStrayCrlf(pngKind, Buffer.concat([png(), crlf]).subarray(-16)), true);
  assert.equal(endsWithStrayCrlf(pngKind, Buffer.from('abc\r\n')), false);
  assert.equal(endsWithStrayCrlf(kindByExtension('bmp') as FileKind, Buffer.from('BM\r\n')), false, 'no end marker: kept');
  assert.equal(contentTypeOf('JPG'), 'image/jpeg');
  assert.equal(contentTypeOf('html'), 'application/octet-stream');
});
