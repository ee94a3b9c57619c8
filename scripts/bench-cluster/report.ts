/** Results of `npm run bench:cluster`: a table, the targets (PASS/MISS), JSON and an SVG chart. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LatencySummary } from '../bench/types.ts';
import { renderClusterChart } from './chart.ts';
import type { ClusterVerify } from './verify.ts';

export interface PointSummary {
  offered: number;
  /** Deliveries of messages sent in the measured window, per second. */
  delivered: number;
  sent: number;
  acked: number;
  refused: number;
  failed: number;
  skipped: number;
  undelivered: number;
  duplicates: number;
  orderViolations: number;
  deliver: LatencySummary;
  ack: LatencySummary;
  /** CPU % of one core per process over the point. */
  cpuPct: Record<string, number>;
  errors: string[];
}

export interface LoginSummary {
  clients: number;
  ok: number;
  failed: number;
  seconds: number;
  rate: number;
  latency: LatencySummary;
  /** CPU % of one core per cluster process during the storm. */
  cpuPct: Record<string, number>;
  errors: string[];
}

export interface IdleSummary {
  requested: number;
  attempted: number;
  loggedIn: number;
  failed: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerConn: number;
  loginRate: number;
  cpuPct: Record<string, number>;
  notes: string[];
}

export interface Target {
  name: string;
  status: 'PASS' | 'MISS' | 'n/a';
  detail: string;
}

export interface ClusterReport {
  startedAt: string;
  command: string;
  environment: Record<string, unknown>;
  options: object;
  login: LoginSummary | null;
  idle: IdleSummary | null;
  points: PointSummary[];
  verify: ClusterVerify | null;
  targets: Target[];
  notes: string[];
}

const TARGET_RATE = 5000;
const TARGET_P99_MS = 100;
const TARGET_LOGINS = 2000;
const TARGET_IDLE = 20_000;
const TARGET_IDLE_BYTES = 20 * 1024;

export function judge(r: Pick<ClusterReport, 'login' | 'idle' | 'points' | 'verify'>): Target[] {
  const clean = (p: PointSummary): boolean => p.undelivered === 0 && p.duplicates === 0 && p.orderViolations === 0 && p.refused === 0 && p.failed === 0;
  const best = r.points.filter((p) => p.delivered >= TARGET_RATE && p.deliver.p99Ms <= TARGET_P99_MS && clean(p)).sort((a, b) => b.delivered - a.delivered)[0];
  // Closest miss: the lowest p99 among points that delivered the rate, else the highest rate.
  const fast = r.points.filter((p) => p.delivered >= TARGET_RATE).sort((a, b) => a.deliver.p99Ms - b.deliver.p99Ms)[0];
  const top = fast ?? [...r.points].sort((a, b) => b.delivered - a.delivered)[0];
  const msgs: Target = { name: `>= ${TARGET_RATE} delivered msgs/s, p99 send->deliver <= ${TARGET_P99_MS} ms, zero loss (--verify)`, status: 'MISS', detail: '' };
  const fmt = (p: PointSummary): string => `${p.delivered} msgs/s delivered at ${p.offered} offered, p99 ${p.deliver.p99Ms} ms, ${p.undelivered} undelivered, ${p.refused} refused, ${p.failed} failed`;
  if (best) msgs.detail = fmt(best);
  else msgs.detail = top ? `closest point: ${fmt(top)}` : 'no point measured';
  if (best && r.verify === null) {
    msgs.status = 'n/a';
    msgs.detail += '; zero loss unchecked: run with --verify';
  } else if (best && r.verify) {
    msgs.status = r.verify.passed ? 'PASS' : 'MISS';
    msgs.detail += `; verify ${r.verify.passed ? 'passed' : 'FAILED'}`;
  }
  const login: Target = r.login
    ? { name: `>= ${TARGET_LOGINS} logins/s`, status: r.login.rate >= TARGET_LOGINS && r.login.failed === 0 ? 'PASS' : 'MISS', detail: `${r.login.rate} logins/s (${r.login.ok} clients over two access servers, ${r.login.failed} failed)` }
    : { name: `>= ${TARGET_LOGINS} logins/s`, status: 'n/a', detail: 'not measured' };
  const i = r.idle;
  const idle: Target = i
    ? {
        name: `${TARGET_IDLE} idle logged-in connections on one access server at <= 20 KB RSS each`,
        status: i.loggedIn >= TARGET_IDLE && i.bytesPerConn <= TARGET_IDLE_BYTES ? 'PASS' : 'MISS',
        detail: `${i.loggedIn} connections, ${(i.bytesPerConn / 1024).toFixed(1)} KB each${i.notes.length ? ` (${i.notes.join('; ')})` : ''}`,
      }
    : { name: `${TARGET_IDLE} idle connections`, status: 'n/a', detail: 'skipped (--idle 0)' };
  return [msgs, login, idle];
}

const CPU_LEGEND = 'db: db-proxy, rt: route-server, a/b: access servers, my: mariadb, rd: redis, g: generators';
const SHORT: Record<string, string> = { 'db-proxy': 'db', 'route-server': 'rt', 'access-server a': 'a', 'access-server b': 'b', mariadb: 'my', redis: 'rd' };
const short = (name: string): string => SHORT[name] ?? name.replace(/^gen-/, 'g');

export function table(points: PointSummary[]): string {
  const head = ['offered/s', 'delivered/s', 'sent', 'acked', 'refused', 'failed', 'skipped', 'undeliv', 'p50 ms', 'p99 ms', 'max ms', 'ack p99', `cpu % (${CPU_LEGEND})`];
  const widths = [9, 11, 7, 7, 7, 6, 7, 7, 7, 7, 8, 7, 40];
  const row = (cells: (string | number)[]): string => cells.map((c, k) => String(c).padStart(widths[k]!)).join('  ');
  const lines = [row(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const p of points) {
    const cpu = Object.entries(p.cpuPct).map(([name, c]) => `${short(name)} ${Math.round(c)}`).join(' ');
    lines.push(row([p.offered, p.delivered, p.sent, p.acked, p.refused, p.failed, p.skipped, p.undelivered, p.deliver.p50Ms, p.deliver.p99Ms, p.deliver.maxMs, p.ack.p99Ms, cpu]));
  }
  return lines.join('\n');
}

/** "db-proxy 75%, route-server 6%, ..." */
export function cpuText(cpu: Record<string, number>): string {
  return Object.entries(cpu).map(([name, pct]) => `${name} ${Math.round(pct)}%`).join(', ');
}

export function targetsText(targets: Target[]): string {
  return targets.map((t) => `  ${t.status.padEnd(4)} ${t.name}: ${t.detail}`).join('\n');
}

/** Writes <out>/cluster-<time>.json and .svg; returns the paths. */
export function writeReport(out: string, report: ClusterReport): string[] {
  mkdirSync(out, { recursive: true });
  const base = join(out, `cluster-${report.startedAt.replace(/[:.]/g, '-')}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const files = [`${base}.json`];
  if (report.points.length > 0) {
    const pts = report.points.map((p) => ({ offered: p.offered, delivered: p.delivered, p50Ms: p.deliver.p50Ms, p99Ms: p.deliver.p99Ms }));
    writeFileSync(`${base}.svg`, renderClusterChart(pts, 'two access servers'));
    files.push(`${base}.svg`);
  }
  return files;
}
