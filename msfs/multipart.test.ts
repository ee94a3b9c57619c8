/**
 * The multipart reader without a socket: fed whole, one byte at a time and
 * in random splits it yields the same parts and the same bytes; it holds
 * its limits and names malformed framing with a code.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { boundaryOf, MultipartError, MultipartErrorCode, MultipartParser, type PartHeaders } from './multipart.ts';
import { androidUpload, appleUpload, jpeg, png, windowsUpload } from './teamtalk-clients.ts';

interface Part {
  headers: PartHeaders;
  data: Buffer;
}

/** Feeds `chunks`, gathers the parts; `ended` says whether the closing delimiter came. */
function read(boundary: string, chunks: Buffer[], limits = {}): { parts: Part[]; ended: boolean } {
  const parser = new MultipartParser(boundary, limits);
  const parts: Part[] = [];
  const data: Buffer[] = [];
  let ended = false;
  for (const chunk of chunks) {
    for (const ev of parser.push(chunk)) {
      if (ev.kind === 'part') parts.push({ headers: ev.headers, data: Buffer.alloc(0) });
      else if (ev.kind === 'data') data.push(Buffer.from(ev.data));
      else if (ev.kind === 'partEnd') {
        const last = parts.at(-1);
        assert.ok(last);
        last.data = Buffer.concat(data.splice(0));
      } else ended = true;
    }
  }
  return { parts, ended };
}

function splitRandomly(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < buf.length; ) {
    const n = Math.min(buf.length - at, randomInt(1, 64));
    out.push(buf.subarray(at, at + n));
    at += n;
  }
  return out;
}

const bytewise = (buf: Buffer): Buffer[] => [...buf].map((b) => Buffer.from([b]));

test("each client's body reads the same whole, byte by byte and in random splits", () => {
  const file = jpeg(3000);
  const bodies = [
    { req: androidUpload(1, file, 'a.jpg'), file: Buffer.concat([file, Buffer.from('\r\n')]), parts: 1 },
    { req: appleUpload(1, file, 'image.png_1x2.png'), file, parts: 2 },
    { req: windowsUpload(1, file, Buffer.from('a.jpg_3x4.jpg')), file, parts: 1 },
  ];
  for (const { req, file: expected, parts } of bodies) {
    const boundary = boundaryOf(req.head.toString('latin1').match(/Content-Type: (.*)\r\n/)?.[1]);
    assert.ok(boundary);
    const whole = read(boundary, [req.body]);
    assert.equal(whole.parts.length, parts);
    assert.ok(whole.ended);
    const filePart = whole.parts.at(-1);
    assert.ok(filePart);
    assert.ok(filePart.data.equals(expected));
    assert.match(filePart.headers.filename ?? '', /\.(jpg|png)$/);
    assert.deepEqual(read(boundary, bytewise(req.body)), whole);
    for (let i = 0; i < 30; i++) assert.deepEqual(read(boundary, splitRandomly(req.body)), whole);
  }
});

test('part headers: names, a quoted filename with a Windows path and bytes over 0x7f, a part without headers', () => {
  const body = Buffer.concat([
    Buffer.from('preamble\r\n--b\r\ncontent-disposition: form-data; name="f"; filename="C:\\x;y\\', 'latin1'),
    Buffer.from([0xbd, 0xd8]),
    Buffer.from('.png"\r\nContent-Type: image/png\r\n\r\nDATA\r\n--b\r\n\r\nbare\r\n--b--\r\nepilogue', 'latin1'),
  ]);
  const { parts, ended } = read('b', [body]);
  assert.ok(ended);
  assert.deepEqual(parts[0]?.headers, { disposition: true, name: 'f', filename: 'C:\\x;y\\\xbd\xd8.png', contentType: 'image/png' });
  assert.equal(parts[0]?.data.toString(), 'DATA');
  assert.deepEqual(parts[1], { headers: { disposition: false }, data: Buffer.from('bare') });
});

test('a body that stops before the closing delimiter yields no end', () => {
  const req = windowsUpload(1, png(500), Buffer.from('a.png'));
  const cut = req.body.subarray(0, req.body.length - 10);
  const { ended } = read('----__Xq7Lm2Pz9Rt4Kw', [cut]);
  assert.equal(ended, false);
});

test('limits and malformed framing throw with a code', () => {
  const cases: [string, Buffer, string, object?][] = [
    ['garbage after a delimiter', Buffer.from('--b junk\r\n\r\nx\r\n--b--'), MultipartErrorCode.MALFORMED],
    ['a header line without a name', Buffer.from('--b\r\n: x\r\n\r\nx\r\n--b--'), MultipartErrorCode.MALFORMED],
    ['a delimiter never ended by CRLF', Buffer.from(`--b${' '.repeat(300)}`), MultipartErrorCode.MALFORMED],
    ['headers over the limit', Buffer.from(`--b\r\nX-A: ${'a'.repeat(200)}\r\n\r\n`), MultipartErrorCode.LIMIT, { maxHeaderBytes: 100 }],
    ['headers over the limit, never ended', Buffer.from(`--b\r\nX-A: ${'a'.repeat(200)}`), MultipartErrorCode.LIMIT, { maxHeaderBytes: 100 }],
    ['too many parts', Buffer.from('--b\r\n\r\n\r\n--b\r\n\r\n\r\n--b\r\n\r\n\r\n--b--'), MultipartErrorCode.LIMIT, { maxParts: 2 }],
  ];
  for (const [what, body, code, limits] of cases) {
    assert.throws(() => read('b', bytewise(body), limits), (err: unknown) => err instanceof MultipartError && err.code === code, what);
  }
});

test('random bodies never throw anything but a MultipartError', () => {
  for (let i = 0; i < 300; i++) {
    const noise = Buffer.concat([randomBytes(randomInt(0, 40)), Buffer.from(['--b', '\r\n', '--b--', '\r\n\r\n', ':'][randomInt(5)] ?? '')]);
    const body = Buffer.concat([noise, randomBytes(randomInt(0, 40)), noise]);
    try {
      read('b', splitRandomly(body));
    } catch (err) {
      assert.ok(err instanceof MultipartError, String(err));
    }
  }
});

test('boundaryOf: multipart/form-data only, case-insensitive, quoted or not; none when absent, empty or odd', () => {
  assert.equal(boundaryOf('multipart/form-data; boundary=---------7d4a6d158c9'), '---------7d4a6d158c9');
  assert.equal(boundaryOf('multipart/form-data;boundary=x'), 'x');
  assert.equal(boundaryOf('Multipart/Form-Data; charset=utf-8; BOUNDARY="a;b c"'), 'a;b c');
  for (const ct of [undefined, '', 'multipart/form-data', 'multipart/form-data; boundary=', 'multipart/mixed; boundary=x', 'text/plain']) {
    assert.equal(boundaryOf(ct), undefined, String(ct));
  }
  assert.equal(boundaryOf(`multipart/form-data; boundary=${'x'.repeat(201)}`), undefined);
});
