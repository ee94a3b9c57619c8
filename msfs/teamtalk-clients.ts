/**
 * Test helpers (not a test file): upload requests built byte for byte as
 * TeamTalk's clients build them, their way of reading the answer, and
 * sample files. Facts from mogujie/TeamTalk:
 * - Android (MoGuHttpClient.uploadImage3): POST to msfsPrior, boundary
 *   `---------7d4a6d158c9`, one part `name="file0"` (no space after ';'),
 *   `Content-Type:application/octet-stream` (no space), an extra CRLF after
 *   the file; bitmaps are re-encoded as PNG under the photo's .jpg name;
 *   reads the first line of the answer as JSON and takes `url`.
 * - iOS / Mac (AFNetworking 2): boundary `Boundary+<16 hex>`, a form field
 *   `type=im_image` first, then `name="image"`, `filename="image.png_WxH.png"`
 *   (Mac: `image.<ext>`), `Content-Type: image/jpeg`; accepts only a
 *   text/html 2xx answer, needs `error_code` 0, takes `url`.
 * - Windows (3rdParty httpclient): POST to msfsPrior + `upload/`, `Host:`
 *   without a space, boundary `----__<14 alnum>`, `name="image"`,
 *   `filename="<name>.jpg_WxH.jpg"`, `Content-Type: image/.jpg`; needs HTTP
 *   200 and `error_code` 0, takes `path` and puts msfsPrior before it.
 * - PHP admin (curl CURLFile): `name="filename"`, `Expect: 100-continue`,
 *   takes `path` and puts its msfs_url before it.
 * All put an image into a message as IMAGE_START + url + IMAGE_END.
 */
import { randomBytes } from 'node:crypto';

export const IMAGE_START = '&$#@~^@[{:';
export const IMAGE_END = ':}]&$~@#@';

export interface ClientRequest {
  /** Request line and headers, up to and including the empty line. */
  head: Buffer;
  body: Buffer;
  whole: Buffer;
}

function request(headLines: (length: number) => string[], body: Buffer): ClientRequest {
  const head = Buffer.from(`${headLines(body.length).join('\r\n')}\r\n\r\n`, 'latin1');
  return { head, body, whole: Buffer.concat([head, body]) };
}

const bin = (s: string): Buffer => Buffer.from(s, 'latin1');

export function androidUpload(port: number, file: Buffer, fileName: string): ClientRequest {
  const b = '---------7d4a6d158c9';
  const body = Buffer.concat([
    bin(`--${b}\r\nContent-Disposition: form-data;name="file0";filename="`),
    Buffer.from(fileName, 'utf8'),
    bin('"\r\nContent-Type:application/octet-stream\r\n\r\n'),
    file,
    bin(`\r\n\r\n--${b}--\r\n`),
  ]);
  return request(
    (n) => [
      'POST / HTTP/1.1',
      'connection: Keep-Alive',
      'user-agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)',
      'Charsert: UTF-8',
      `Content-Type: multipart/form-data; boundary=${b}`,
      `Host: 127.0.0.1:${port}`,
      'Accept-Encoding: gzip',
      `Content-Length: ${n}`,
    ],
    body,
  );
}

/** iOS (`image.png_WxH.png`) and Mac (`image.<ext>`) alike. */
export function appleUpload(port: number, file: Buffer, fileName: string): ClientRequest {
  const b = `Boundary+${randomBytes(8).toString('hex').toUpperCase()}`;
  const body = Buffer.concat([
    bin(`--${b}\r\nContent-Disposition: form-data; name="type"\r\n\r\nim_image`),
    bin(`\r\n--${b}\r\nContent-Disposition: form-data; name="image"; filename="${fileName}"\r\nContent-Type: image/jpeg\r\n\r\n`),
    file,
    bin(`\r\n--${b}--\r\n`),
  ]);
  return request(
    (n) => [
      'POST / HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      `Content-Type: multipart/form-data; boundary=${b}`,
      'Accept: */*',
      'Accept-Language: zh-Hans;q=1',
      `Content-Length: ${n}`,
      'Accept-Encoding: gzip, deflate',
      'Connection: keep-alive',
      'User-Agent: TeamTalk/1.0 (iPhone; iOS 8.1; Scale/2.00)',
    ],
    body,
  );
}

/** `fileName` as the client sends it (its own code page), e.g. GBK bytes of a Chinese name + `.jpg_640x480.jpg`. */
export function windowsUpload(port: number, file: Buffer, fileName: Buffer, ext = '.jpg'): ClientRequest {
  const b = '----__Xq7Lm2Pz9Rt4Kw';
  const body = Buffer.concat([
    bin(`--${b}\r\nContent-Disposition: form-data; name="image"; filename="`),
    fileName,
    bin(`"\r\nContent-Type: image/${ext}\r\n\r\n`),
    file,
    bin(`\r\n--${b}--\r\n`),
  ]);
  return request(
    (n) => [
      'POST /upload/ HTTP/1.1',
      `Host:127.0.0.1:${port}`,
      'Accept: */*',
      'Connection: Keep-Alive',
      `Content-Type: multipart/form-data; boundary=${b}`,
      `Content-Length: ${n}`,
    ],
    body,
  );
}

export function phpUpload(port: number, file: Buffer, fileName: string): ClientRequest {
  const b = `------------------------${randomBytes(8).toString('hex')}`;
  const body = Buffer.concat([
    bin(`--${b}\r\nContent-Disposition: form-data; name="filename"; filename="${fileName}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    file,
    bin(`\r\n--${b}--\r\n`),
  ]);
  return request(
    (n) => [
      'POST / HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Accept: */*',
      `Content-Length: ${n}`,
      `Content-Type: multipart/form-data; boundary=${b}`,
      'Expect: 100-continue',
    ],
    body,
  );
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Android: the first line, as JSON, `url`; '' on any failure (as uploadImage3 returns). */
export function androidReads(a: Answer): string {
  if (a.status >= 400) return ''; // getInputStream() throws
  try {
    const root = JSON.parse(a.body.toString('utf8').split('\n')[0] ?? '') as Record<string, unknown>;
    return typeof root.url === 'string' ? root.url : '';
  } catch {
    return '';
  }
}

/** iOS and Mac: a 2xx text/html JSON dictionary with `error_code` 0; `url`, else undefined. */
export function appleReads(a: Answer): string | undefined {
  const mime = (a.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (a.status < 200 || a.status > 299 || mime !== 'text/html') return undefined;
  const root = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
  if (Number(root.error_code) !== 0) return undefined;
  return typeof root.url === 'string' ? root.url : undefined;
}

/** Windows and the PHP admin: HTTP 200, `error_code` 0, a non-empty `path`, put after their msfs URL. */
export function prefixReads(a: Answer, msfsUrl: string): string | undefined {
  if (a.status !== 200) return undefined;
  const root = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
  if (Number(root.error_code ?? 0) !== 0 || typeof root.path !== 'string' || root.path === '') return undefined;
  return (msfsUrl.endsWith('/') ? msfsUrl : `${msfsUrl}/`) + root.path;
}

/** What a receiving client takes out of an image message. */
export function imageUrlOf(content: string): string {
  if (!content.startsWith(IMAGE_START) || !content.endsWith(IMAGE_END)) throw new Error('not an image message');
  return content.slice(IMAGE_START.length, content.length - IMAGE_END.length);
}

/**
 * Random bytes laced with near-delimiters of every client's boundary (one
 * character short, then a character that cannot complete it), so that a
 * reader that matches loosely cuts the file and the test sees it.
 */
function payload(n: number): Buffer {
  const out = randomBytes(n);
  const traps = bin('\r\n--Boundary+!\r\n------__Xq7Lm2Pz9Rt4K!\r\n-----------7d4a6d158c!\r\n\r\n--!\r\n');
  for (let at = 97; at + traps.length < n; at += 4099) traps.copy(out, at);
  return out;
}

/** A PNG's framing: signature, IHDR, one IDAT of `n` bytes, IEND (msfs checks the first and last bytes only). */
export function png(n = 64): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, bin(type), data, Buffer.alloc(4)]);
  };
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
  const iend = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', payload(n)), iend]);
}

export function jpeg(n = 64): Buffer {
  const app0 = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  return Buffer.concat([app0, payload(n), Buffer.from([0xff, 0xd9])]);
}

export function gif(n = 64): Buffer {
  return Buffer.concat([bin('GIF89a'), payload(n), Buffer.from([0x3b])]);
}
