/**
 * Results: a human table, the targets (PASS/MISS), a JSON file and an SVG
 * chart per workload in the results folder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BaselineResult } from './baseline.ts';
import { renderChart } from './chart.ts';
import type { PointResult, Workload } from './types.ts';

export type { PointResult };
import type { VerifyResult } from './verify.ts';

export interface Report {
  startedAt: string;
  command: string;
  environment: Record<string, unknown>;
  options: object;
  baselineMethod: string;
  baseline: BaselineResult[];
  points: PointResult[];
  verify: VerifyResult | null;
  targets: Target[];
  notes: string[];
}

export interface Target {
  name: string;
  status: 'PASS' | 'MISS' | 'n/a';
  detail: string;
}

const pad = (s: string | number, n: number): string => String(s).padStart(n);

export function table(points: PointResult[], baseline: BaselineResult[]): string {
  const head = ['workload', 'db-proxy', 'mysql', 'workers', 'in flight', 'conn×win', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'fail', 'gen cpu%', 'proxy cpu%', 'vs base'];
  const widths = [9, 15, 5, 7, 9, 9, 8, 7, 7, 8, 6, 8, 10, 7];
  const row = (cells: (string | number)[]): string => cells.map((c, i) => pad(c, widths[i]!)).join('  ');
  const lines = [row(head), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const p of points) {
    const g = p.gen;
    lines.push(
      row([p.workload, p.target, p.mysqlInstances, p.target === 'ours' ? p.workers : '-', p.inFlight, `${p.connections}×${p.window}`, g.rate, g.latency.p50Ms, g.latency.p99Ms, g.latency.maxMs, g.failed, g.cpuPct, p.proxyCpuPct, p.ratio === null ? '-' : `${Math.round(p.ratio * 100)}%`]),
    );
  }
  for (const b of baseline) {
    lines.push(row(['baseline', 'in-process', '-', '-', b.concurrency, 'in-proc', b.rate, b.latency.p50Ms, b.latency.p99Ms, b.latency.maxMs, b.failed, b.cpuPct, '-', '100%']));
  }
  return lines.join('\n');
}

function pick(points: PointResult[], workload: Workload, inFlight: number): PointResult[] {
  return points.filter((p) => p.workload === workload && p.inFlight === inFlight);
}

/** The issue's targets, judged per db-proxy worker count; a target passes if one setting meets it. */
export function judge(points: PointResult[], verify: VerifyResult | null): Target[] {
  const out: Target[] = [];
  const each = (name: string, list: PointResult[], test: (p: PointResult) => string | null): void => {
    if (list.length === 0) return void out.push({ name, status: 'n/a', detail: 'no such point in this run' });
    const verdicts = list.map((p) => ({ p, miss: test(p) }));
    const pass = verdicts.some((v) => v.miss === null);
    const detail = verdicts.map((v) => `workers=${v.p.workers}: ${v.miss ?? 'ok'}`).join('; ');
    out.push({ name, status: pass ? 'PASS' : 'MISS', detail });
  };
  each('≥ 10,000 verified single msgs/s at 256 in flight, p99 ≤ 50 ms, ≥ 70% of baseline', pick(points, 'single', 256), (p) => {
    const miss: string[] = [];
    if (p.gen.rate < 10_000) miss.push(`${p.gen.rate} msgs/s`);
    if (p.gen.latency.p99Ms > 50) miss.push(`p99 ${p.gen.latency.p99Ms} ms`);
    if (p.ratio === null || p.ratio < 0.7) miss.push(`ratio ${p.ratio === null ? 'unknown' : `${Math.round(p.ratio * 100)}%`}`);
    if (!verify) miss.push('not verified (run with --verify)');
    else if (!verify.passed) miss.push('verification failed');
    return miss.length > 0 ? miss.join(', ') : null;
  });
  each('p50 ≤ 1.5 ms at 1 in flight (single)', pick(points, 'single', 1), (p) => (p.gen.latency.p50Ms <= 1.5 ? null : `p50 ${p.gen.latency.p50Ms} ms`));
  each('≥ 10,000 validates/s at 64 in flight', pick(points, 'validate', 64), (p) => (p.gen.rate >= 10_000 && p.gen.failed === 0 ? null : `${p.gen.rate}/s, ${p.gen.failed} failed`));
  each('≥ 20,000 unread requests/s at 64 in flight', pick(points, 'unread', 64), (p) => (p.gen.rate >= 20_000 && p.gen.failed === 0 ? null : `${p.gen.rate}/s, ${p.gen.failed} failed`));
  return out;
}

export function targetsText(targets: Target[]): string {
  return targets.map((t) => `${t.status.padEnd(4)}  ${t.name}\n      ${t.detail}`).join('\n');
}

/** Writes <out>/<stamp>.json and <out>/<stamp>-<workload>.svg; returns the paths. */
export function writeReport(dir: string, report: Report): string[] {
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const files = [join(dir, `db-proxy-${stamp}.json`)];
  writeFileSync(files[0]!, `${JSON.stringify(report, null, 2)}\n`);
  for (const workload of new Set(report.points.map((p) => p.workload))) {
    const points = report.points.filter((p) => p.workload === workload);
    if (new Set(points.map((p) => p.inFlight)).size < 1) continue;
    const file = join(dir, `db-proxy-${stamp}-${workload}.svg`);
    writeFileSync(file, renderChart(workload, points, workload === 'single' ? report.baseline : []));
    files.push(file);
  }
  return files;
}
