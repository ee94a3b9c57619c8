/**
 * A hand-written SVG chart: throughput (left) and p50/p99 latency (right)
 * against requests in flight (log₂ axis), one colour per db-proxy worker
 * count; the baseline is the dashed grey line on the throughput panel.
 */
import type { BaselineResult } from './baseline.ts';
import type { PointResult } from './types.ts';

const W = 460;
const H = 300;
const M = { l: 64, r: 16, t: 36, b: 44 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

interface Series {
  label: string;
  color: string;
  dash: string;
  pts: [number, number][];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

function panel(x0: number, title: string, unit: string, xs: number[], series: Series[]): string {
  const lx = xs.map((x) => Math.log2(Math.max(1, x)));
  const xmin = Math.min(...lx);
  const xmax = Math.max(...lx, xmin + 1);
  const ymax = niceMax(Math.max(...series.flatMap((s) => s.pts.map(([, y]) => y)), 0));
  const px = (x: number): number => x0 + M.l + ((Math.log2(Math.max(1, x)) - xmin) / (xmax - xmin)) * (W - M.l - M.r);
  const py = (y: number): number => M.t + (1 - y / ymax) * (H - M.t - M.b);
  const out = [`<text x="${x0 + W / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(title)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const y = (ymax * i) / 5;
    out.push(`<line x1="${x0 + M.l}" x2="${x0 + W - M.r}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${x0 + M.l - 6}" y="${py(y) + 4}" text-anchor="end">${+y.toPrecision(4)}</text>`);
  }
  for (const x of xs) out.push(`<text x="${px(x)}" y="${H - M.b + 16}" text-anchor="middle">${x}</text>`);
  out.push(`<text x="${x0 + W / 2}" y="${H - 8}" text-anchor="middle">requests in flight</text>`);
  out.push(`<text transform="translate(${x0 + 14},${H / 2}) rotate(-90)" text-anchor="middle">${esc(unit)}</text>`);
  out.push(`<rect x="${x0 + M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#888"/>`);
  series.forEach((s, i) => {
    const pts = [...s.pts].sort((a, b) => a[0] - b[0]);
    const d = pts.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-dasharray="${s.dash}"/>`);
    for (const [x, y] of pts) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = M.t + 14 + i * 15;
    out.push(`<line x1="${x0 + M.l + 8}" x2="${x0 + M.l + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2" stroke-dasharray="${s.dash}"/>`);
    out.push(`<text x="${x0 + M.l + 32}" y="${ly}">${esc(s.label)}</text>`);
  });
  return out.join('\n');
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
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel(0, `db-proxy ${workload}: throughput`, 'requests/s', xs, rate),
    panel(W, `db-proxy ${workload}: latency`, 'ms', xs, lat),
    '</svg>\n',
  ].join('\n');
}
