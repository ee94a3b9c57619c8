/**
 * Upload answers, written as TeamTalk's msfs writes them (HttpConn.cpp):
 * one line of JSON, keys in its order, served as text/html (the iOS and Mac
 * clients accept no other type). Android, iOS and Mac read `url`; Windows
 * and the PHP admin read `path` and put their msfs prefix before it.
 * Codes 1-11 are TeamTalk's; 12-14 are ours.
 */
import type http from 'node:http';

export const UploadCode = {
  OK: 0,
  /** Content-Length or the file over the limit. */
  TOO_LARGE: 1,
  /** No part carries a Content-Disposition. */
  NO_DISPOSITION: 2,
  /** No part carries a filename. */
  NO_FILENAME: 3,
  /** Not multipart/form-data, or no boundary. */
  NO_BOUNDARY: 4,
  /** The boundary never appears in the body. */
  BOUNDARY_NOT_FOUND: 5,
  /** A part's headers are malformed or too long. */
  BAD_PART_HEADERS: 7,
  /** The body ends before the closing delimiter (truncated). */
  TRUNCATED: 8,
  /** The filename's extension is over 15 characters. */
  EXT_TOO_LONG: 9,
  /** The filename has no extension. */
  NO_EXT: 10,
  /** The filename is over 255 bytes. */
  NAME_TOO_LONG: 11,
  /** The extension is not an allowed type, or the content is not what it claims. */
  BAD_TYPE: 12,
  /** Too many uploads at once (from this address, or in all). */
  BUSY: 13,
  /** The file could not be stored. */
  STORAGE: 14,
} as const;

export type UploadCodeValue = (typeof UploadCode)[keyof typeof UploadCode];

const MESSAGES: Record<UploadCodeValue, string> = {
  0: '成功',
  1: '上传文件过大',
  2: '格式错误',
  3: '格式错误',
  4: '格式错误',
  5: '格式错误',
  7: '格式错误',
  8: '格式错误',
  9: '格式错误',
  10: '格式错误',
  11: '格式错误',
  12: '文件类型错误',
  13: '服务器忙',
  14: '存储失败',
};

/** HTTP status per code: 200 as TeamTalk for what the client sent, ours for the server's own state. */
export function statusOf(code: UploadCodeValue, perAddress = false): number {
  if (code === UploadCode.BUSY) return perAddress ? 429 : 503;
  if (code === UploadCode.STORAGE) return 500;
  return 200;
}

export function answerJson(code: UploadCodeValue, path = '', url = ''): string {
  const head = `{"error_code":${code},"error_msg": ${JSON.stringify(MESSAGES[code])}`;
  // TeamTalk's "too large" answer has no path key
  if (code === UploadCode.TOO_LARGE) return `${head},"url":""}`;
  return `${head},"path":${JSON.stringify(path)},"url":${JSON.stringify(url)}}`;
}

/** After a refusal the rest of the body is read and dropped, up to these bounds, so the client sees the answer. */
const LINGER_MS = 2000;
const LINGER_BYTES = 1024 * 1024;

export function sendAnswer(res: http.ServerResponse, status: number, body: string, extra: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent || res.destroyed) return;
  res
    .writeHead(status, {
      'content-type': 'text/html;charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      ...extra,
    })
    .end(body);
}

/**
 * Reads and drops what is left of a refused request's body so that a client
 * that writes its whole body before reading (all of TeamTalk's do) gets to
 * the answer; past LINGER_BYTES or LINGER_MS the connection is cut.
 */
export function linger(req: http.IncomingMessage): void {
  req.removeAllListeners('data');
  if (req.complete) return;
  let dropped = 0;
  const cut = (): void => void req.socket.destroy();
  const timer = setTimeout(cut, LINGER_MS).unref();
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) cut();
  });
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
