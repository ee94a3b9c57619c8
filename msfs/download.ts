/**
 * GET and HEAD of a stored file by its path (`/g0/000/000/<name>`). Files
 * never change once published, so they are served as immutable, with a
 * strong ETag, Last-Modified, conditional requests (304) and one byte range
 * (206/416). The Content-Type comes from the extension (TeamTalk sends
 * `image/<ext>`, so `image/jpg`; we send the registered types).
 */
import type http from 'node:http';
import { pipeline } from 'node:stream';
import type { Logger } from 'pino';
import { contentTypeOf } from './file-types.ts';
import { parseDownloadPath } from './layout.ts';
import type { FileStore } from './store.ts';

export interface DownloadStats {
  served: number;
  servedBytes: number;
  notFound: number;
}

export function sendPlain(res: http.ServerResponse, status: number, text: string, extra: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = `${text}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...extra }).end(body);
}

export async function handleDownload(
  store: FileStore,
  stats: DownloadStats,
  log: Logger,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const parsed = parseDownloadPath(req.url ?? '');
  if (!parsed.ok) {
    stats.notFound++;
    return sendPlain(res, parsed.status, parsed.status === 400 ? 'bad path' : 'not found');
  }
  const file = await store.open(parsed.first, parsed.second, parsed.name);
  if (!file) {
    stats.notFound++;
    return sendPlain(res, 404, 'not found');
  }
  const { fh, size, mtimeMs } = file;
  const etag = `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
  const headers: http.OutgoingHttpHeaders = {
    etag,
    'last-modified': new Date(mtimeMs).toUTCString(),
    'cache-control': 'public, max-age=31536000, immutable',
    'access-control-allow-origin': '*',
  };
  if (notModified(req, etag, mtimeMs)) {
    await fh.close();
    res.writeHead(304, headers).end();
    return;
  }
  Object.assign(headers, { 'content-type': contentTypeOf(parsed.ext), 'accept-ranges': 'bytes', 'x-content-type-options': 'nosniff' });
  let start = 0;
  let end = size - 1;
  let status = 200;
  const ifRange = req.headers['if-range'];
  const range = ifRange === undefined || ifRange === etag ? rangeOf(req.headers.range, size) : undefined;
  if (range === 'unsatisfiable') {
    await fh.close();
    return sendPlain(res, 416, 'range not satisfiable', { 'content-range': `bytes */${size}` });
  }
  if (range) {
    [start, end] = range;
    status = 206;
    headers['content-range'] = `bytes ${start}-${end}/${size}`;
  }
  const length = size === 0 ? 0 : end - start + 1;
  headers['content-length'] = length;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || length === 0) {
    await fh.close();
    res.end();
    return;
  }
  stats.served++;
  stats.servedBytes += length;
  pipeline(fh.createReadStream({ start, end }), res, (err) => {
    if (err) log.debug({ err: err.message, path: req.url }, 'download cut short');
  });
}

function notModified(req: http.IncomingMessage, etag: string, mtimeMs: number): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) return inm.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}` || t.trim() === '*');
  const ims = req.headers['if-modified-since'];
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return !Number.isNaN(since) && Math.floor(mtimeMs / 1000) * 1000 <= since;
}

/** One `bytes=` range of a file of `size` bytes; undefined to serve it whole (absent, malformed or several ranges). */
export function rangeOf(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (header === undefined || size === 0) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 ? 'unsatisfiable' : [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start >= size || start > end ? 'unsatisfiable' : [start, end];
}
