/**
 * msfs's HTTP server: POST uploads, GET/HEAD downloads, and on the same port
 * GET /healthz and GET /metrics (no stored path can take those names).
 * Every request is bounded: header size and time, whole-request time, idle
 * time, body size; every source (IPv4 address, IPv6 /64) by its open
 * connections and uploads; all uploads by the body bytes they may hold.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Logger } from 'pino';
import { listen, settleWithin } from '../common/lifecycle.ts';
import { processMetrics, renderMetrics, type Metric } from '../common/ops-http.ts';
import { Admission, ConnectionLimit } from './admission.ts';
import type { MsfsConfig } from './config.ts';
import { handleDownload, sendPlain, type DownloadStats } from './download.ts';
import { FileStore } from './store.ts';
import { handleUpload, type UploadContext, type UploadStats } from './upload.ts';

export interface RunningMsfs {
  address: { host: string; port: number };
  /** The prefix upload answers' URLs start with: what route-server's ROUTE_MSFS_URL should say. */
  publicUrl: string;
  readonly uploadsInProgress: number;
  /** Stops accepting, lets uploads in progress finish (up to shutdownGraceMs), then cuts the rest. Idempotent. */
  close(): Promise<void>;
  /** Cuts every connection now; uploads in progress are dropped. */
  destroy(): void;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);
const HOST_HEADER = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export async function startMsfs(config: Readonly<MsfsConfig>, log: Logger): Promise<RunningMsfs> {
  const store = new FileStore(config.root);
  const removed = await store.init();
  if (removed > 0) log.warn({ removed }, 'removed unfinished uploads of an earlier run');
  const admission = new Admission(config.maxUploadsPerIp, config.maxInflightBytes);
  const connections = new ConnectionLimit(config.maxConnectionsPerIp);
  const uploads: UploadStats = { stored: 0, storedBytes: 0, refused: 0, aborted: 0 };
  const downloads: DownloadStats = { served: 0, servedBytes: 0, notFound: 0 };
  const inProgress = new Set<Promise<void>>();
  let closing = false;
  let closed: Promise<void> | undefined;
  let boundUrl = '';

  const ctx: UploadContext = {
    config,
    store,
    admission,
    stats: uploads,
    log,
    closing: () => closing,
    publicUrl: (req) => {
      if (config.publicUrl) return config.publicUrl;
      const host = req.headers.host;
      // listening everywhere, no address of ours is the right one: answer with the one the client used, as TeamTalk does
      return WILDCARD_HOSTS.has(config.host) && host && HOST_HEADER.test(host) ? `http://${host}/` : boundUrl;
    },
    track: (settled) => {
      inProgress.add(settled);
      void settled.finally(() => inProgress.delete(settled));
    },
  };

  const metrics = (): Metric[] => [
    { name: 'msfs_uploads_stored_total', help: 'Files stored.', type: 'counter', value: uploads.stored },
    { name: 'msfs_upload_stored_bytes_total', help: 'Bytes of files stored.', type: 'counter', value: uploads.storedBytes },
    { name: 'msfs_uploads_refused_total', help: 'Uploads answered with an error.', type: 'counter', value: uploads.refused },
    { name: 'msfs_uploads_aborted_total', help: 'Uploads the client broke off.', type: 'counter', value: uploads.aborted },
    { name: 'msfs_uploads_in_progress', help: 'Uploads being received.', type: 'gauge', value: admission.uploads },
    { name: 'msfs_upload_reserved_bytes', help: 'Body bytes reserved by uploads in progress.', type: 'gauge', value: admission.reservedBytes },
    { name: 'msfs_connections_refused_total', help: 'Connections cut on arrival: their source had too many open.', type: 'counter', value: connections.refused },
    { name: 'msfs_downloads_total', help: 'Downloads served (GET with a body).', type: 'counter', value: downloads.served },
    { name: 'msfs_download_bytes_total', help: 'Bytes of files served.', type: 'counter', value: downloads.servedBytes },
    { name: 'msfs_downloads_not_found_total', help: 'Downloads answered 400 or 404.', type: 'counter', value: downloads.notFound },
    ...processMetrics('msfs'),
  ];

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, expectContinue: boolean): void => {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    if (closing) res.setHeader('connection', 'close');
    try {
      if (req.method === 'POST') return handleUpload(ctx, req, res, expectContinue);
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendPlain(res, 405, 'method not allowed', { allow: 'GET, HEAD, POST' });
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') {
        const body = JSON.stringify({ ok: !closing, uploads: admission.uploads });
        res.writeHead(closing ? 503 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
        return;
      }
      if (path === '/metrics') {
        const text = renderMetrics(metrics());
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': Buffer.byteLength(text) }).end(text);
        return;
      }
      handleDownload(store, downloads, log, req, res).catch((err: unknown) => {
        log.error({ err, path }, 'download failed');
        sendPlain(res, 500, 'internal error');
      });
    } catch (err) {
      log.error({ err }, 'request handler failed');
      sendPlain(res, 500, 'internal error');
    }
  };

  const server = http.createServer(
    {
      maxHeaderSize: 16 * 1024,
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
    },
    (req, res) => handle(req, res, false),
  );
  server.on('connection', (socket: net.Socket) => void connections.accept(socket));
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => handle(req, res, true));
  server.maxConnections = config.maxConnections;
  server.maxHeadersCount = 64;
  server.keepAliveTimeout = Math.min(5000, config.idleTimeoutMs);
  // no 'timeout' listener: a socket silent this long is destroyed
  server.setTimeout(config.idleTimeoutMs);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    log.debug({ err: err.message, code: err.code }, 'bad http request');
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    if (err.code !== 'ECONNRESET' && socket.writable) {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });

  const address = await listen(server, config.host, config.port);
  boundUrl = config.publicUrl ?? `http://${urlHost(WILDCARD_HOSTS.has(config.host) ? '127.0.0.1' : config.host)}:${address.port}/`;

  return {
    address,
    publicUrl: boundUrl,
    get uploadsInProgress() {
      return inProgress.size;
    },
    close: () =>
      (closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await settleWithin(Promise.all(inProgress), config.shutdownGraceMs);
        server.closeAllConnections();
        await Promise.all(inProgress);
        await stopped;
        log.info({ stored: uploads.stored }, 'msfs closed');
      })()),
    destroy: () => {
      closing = true;
      server.close();
      server.closeAllConnections();
    },
  };
}
