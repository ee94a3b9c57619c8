/**
 * The operations endpoint every process serves: GET /healthz (JSON) and
 * GET /metrics (Prometheus text format). Hand-written exposition: a few
 * counters and gauges do not need a metrics library.
 */
import http from 'node:http';

export interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  value: number;
}

export interface OpsSource {
  /** Extra fields for /healthz; `ok: false` answers 503. */
  health(): Record<string, unknown> & { ok: boolean };
  metrics(): Metric[];
}

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

export function renderMetrics(metrics: readonly Metric[]): string {
  return metrics.map((m) => `# HELP ${m.name} ${m.help}\n# TYPE ${m.name} ${m.type}\n${m.name} ${m.value}\n`).join('');
}

/** Process-wide gauges every process exposes. */
export function processMetrics(prefix: string): Metric[] {
  const mem = process.memoryUsage();
  return [
    { name: `${prefix}_process_resident_memory_bytes`, help: 'Resident set size.', type: 'gauge', value: mem.rss },
    { name: `${prefix}_process_heap_used_bytes`, help: 'V8 heap in use.', type: 'gauge', value: mem.heapUsed },
    { name: `${prefix}_process_uptime_seconds`, help: 'Seconds since start.', type: 'gauge', value: Math.round(process.uptime()) },
  ];
}

export function startOpsHttp(host: string, port: number, source: OpsSource): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      const body = source.health();
      res.writeHead(body.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(renderMetrics(source.metrics()));
    } else {
      res.writeHead(404).end();
    }
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 5000;
  server.maxHeadersCount = 50;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as { port: number }).port,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
