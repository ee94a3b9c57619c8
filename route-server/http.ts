/**
 * The HTTP side: GET /msg_server (TeamTalk's login balancing, same JSON and
 * codes, always HTTP 200 as TeamTalk's clients expect), GET /healthz and
 * GET /metrics. Everything else is 404 (405 for another method on a known
 * path). Requests are bounded in time, header size and body size.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Logger } from 'pino';
import { renderMetrics, type Metric } from '../common/ops-http.ts';
import type { ServerChoice } from './presence.ts';

export interface BalancerSource {
  pick(): ServerChoice;
  health(): { ok: boolean; servers: number; users: number };
  metrics(): Metric[];
}

export interface BalancerOptions {
  host: string;
  port: number;
  maxConnections: number;
  requestTimeoutMs: number;
  msfsUrl: string;
  discoveryUrl: string;
}

export interface BalancerHttp {
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** Request bodies are not expected; a client sending more than this is cut off. */
const MAX_BODY_BYTES = 16 * 1024;

/** The /msg_server answer for a pick, field for field as TeamTalk's login server writes it. */
export function msgServerJson(pick: ServerChoice, opts: Pick<BalancerOptions, 'msfsUrl' | 'discoveryUrl'>): Record<string, unknown> {
  if (pick.code === 1) return { code: 1, msg: 'no msg server' };
  if (pick.code === 2) return { code: 2, msg: 'all msg servers are full' };
  const s = pick.server;
  return {
    code: 0,
    msg: '',
    priorIP: s.ip1,
    backupIP: s.ip2,
    port: String(s.port),
    discovery: opts.discoveryUrl,
    msfsPrior: opts.msfsUrl,
    msfsBackup: opts.msfsUrl,
  };
}

export function startBalancerHttp(opts: BalancerOptions, source: BalancerSource, log: Logger): Promise<BalancerHttp> {
  const server = http.createServer({ maxHeaderSize: 8192 }, (req, res) => {
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_BODY_BYTES) req.socket.destroy();
    });
    req.on('error', () => undefined);
    const path = (req.url ?? '/').split('?')[0];
    const known = path === '/msg_server' || path === '/healthz' || path === '/metrics';
    if (!known) {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      if (path === '/msg_server') {
        json(res, 200, msgServerJson(source.pick(), opts));
      } else if (path === '/healthz') {
        const h = source.health();
        json(res, h.ok ? 200 : 503, h);
      } else {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(renderMetrics(source.metrics()));
      }
    } catch (err) {
      log.error({ err, path }, 'http handler failed');
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  server.maxConnections = opts.maxConnections;
  server.headersTimeout = opts.requestTimeoutMs;
  server.requestTimeout = opts.requestTimeoutMs;
  server.keepAliveTimeout = Math.min(5000, opts.requestTimeoutMs);
  server.maxHeadersCount = 64;
  server.on('clientError', (err, socket: net.Socket) => {
    log.debug({ err }, 'bad http request');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const a = server.address() as net.AddressInfo;
      resolve({
        address: { host: a.address, port: a.port },
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeIdleConnections();
            setTimeout(() => server.closeAllConnections(), 1000).unref();
          }),
      });
    });
  });
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}
