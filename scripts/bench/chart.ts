/**
 * db-proxy benchmark chart: throughput (left) and p50/p99 latency (right)
 * against requests in flight (log₂ axis), one colour per db-proxy worker
 * count; the baseline is the dashed grey line on the throughput panel.
 */
import type { BaselineResult } from './baseline.ts';
import { panel, twoPanels, W, type Series, type XAxis } from './svg.ts';
import type { PointResult } from './types.ts';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

function inFlightAxis(xs: number[]): XAxis {
  const lx = xs.map((x) => Math.log2(Math.max(1, x)));
  const xmin = Math.min(...lx);
  const xmax = Math.max(...lx, xmin + 1);
  return { label: 'requests in flight', ticks: xs, pos: (x) => (Math.log2(Math.max(1, x)) - xmin) / (xmax - xmin) };
}

export function renderChart(workload: string, points: PointResult[], baseline: BaselineResult[]): string {
  const xs = [...new Set([...points.map((p) => p.inFlight), ...baseline.map((b) => b.concurrency)])].sort((a, b) => a - b);
  const workers = [...new Set(points.map((p) => p.workers))].sort((a, b) => a - b);
  const of = (w: number): PointResult[] => points.filter((p) => p.workers === w);
  const color = (i: number): string => COLORS[i % COLORS.length]!;
  const rate: Series[] = workers.map((w, i) => ({ label: `workers=${w}`, color: color(i), dash: '', pts: of(w).map((p) => [p.inFlight, p.gen.rate]) }));
  if (baseline.length > 0) rate.push({ label: 'baseline (no protocol)', color: '#777', dash: '6 4', pts: baseline.map((b) => [b.concurrency, b.rate]) });
  const lat: Series[] = workers.flatMap((w, i) => [
    { label: `workers=${w} p50`, color: color(i), dash: '', pts: of(w).map((p): [number, number] => [p.inFlight, p.gen.latency.p50Ms]) },
    { label: `workers=${w} p99`, color: color(i), dash: '5 3', pts: of(w).map((p): [number, number] => [p.inFlight, p.gen.latency.p99Ms]) },
  ]);
  const x = inFlightAxis(xs);
  return twoPanels(panel(0, `db-proxy ${workload}: throughput`, 'requests/s', x, rate), panel(W, `db-proxy ${workload}: latency`, 'ms', x, lat));
}
