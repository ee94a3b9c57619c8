/**
 * The cluster benchmark's SVG: delivered msgs/s against the offered rate
 * (left; the dashed diagonal is "everything offered was delivered") and
 * send → deliver p50 / p99 latency against the offered rate (right; the
 * dashed line is the 100 ms target).
 */
const W = 460;
const H = 300;
const M = { l: 64, r: 16, t: 36, b: 44 };

export interface ChartPoint {
  offered: number;
  delivered: number;
  p50Ms: number;
  p99Ms: number;
}

interface Line {
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

function panel(x0: number, title: string, unit: string, xmax: number, lines: Line[]): string {
  const ymax = niceMax(Math.max(...lines.flatMap((l) => l.pts.map(([, y]) => y)), 0));
  const px = (x: number): number => x0 + M.l + (x / xmax) * (W - M.l - M.r);
  const py = (y: number): number => M.t + (1 - Math.min(y, ymax) / ymax) * (H - M.t - M.b);
  const out = [`<text x="${x0 + W / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(title)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const y = (ymax * i) / 5;
    const x = (xmax * i) / 5;
    out.push(`<line x1="${x0 + M.l}" x2="${x0 + W - M.r}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${x0 + M.l - 6}" y="${py(y) + 4}" text-anchor="end">${+y.toPrecision(4)}</text>`);
    out.push(`<text x="${px(x)}" y="${H - M.b + 16}" text-anchor="middle">${+x.toPrecision(4)}</text>`);
  }
  out.push(`<text x="${x0 + W / 2}" y="${H - 8}" text-anchor="middle">offered msgs/s</text>`);
  out.push(`<text transform="translate(${x0 + 14},${H / 2}) rotate(-90)" text-anchor="middle">${esc(unit)}</text>`);
  out.push(`<rect x="${x0 + M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#888"/>`);
  lines.forEach((l, i) => {
    const pts = [...l.pts].sort((a, b) => a[0] - b[0]);
    const d = pts.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${l.color}" stroke-width="2" stroke-dasharray="${l.dash}"/>`);
    if (l.dash === '') for (const [x, y] of pts) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${l.color}"/>`);
    const ly = M.t + 14 + i * 15;
    out.push(`<line x1="${x0 + M.l + 8}" x2="${x0 + M.l + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${l.color}" stroke-width="2" stroke-dasharray="${l.dash}"/>`);
    out.push(`<text x="${x0 + M.l + 32}" y="${ly}">${esc(l.label)}</text>`);
  });
  return out.join('\n');
}

export function renderClusterChart(points: ChartPoint[], title: string): string {
  const xmax = niceMax(Math.max(...points.map((p) => p.offered), 1));
  const rate: Line[] = [
    { label: 'delivered', color: '#1f77b4', dash: '', pts: points.map((p) => [p.offered, p.delivered]) },
    { label: 'offered', color: '#999', dash: '6 4', pts: [[0, 0], [xmax, xmax]] },
  ];
  const lat: Line[] = [
    { label: 'p50 send→deliver', color: '#2ca02c', dash: '', pts: points.map((p) => [p.offered, p.p50Ms]) },
    { label: 'p99 send→deliver', color: '#d62728', dash: '', pts: points.map((p) => [p.offered, p.p99Ms]) },
    { label: 'target p99 100 ms', color: '#999', dash: '6 4', pts: [[0, 100], [xmax, 100]] },
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel(0, `${title}: throughput`, 'delivered msgs/s', xmax, rate),
    panel(W, `${title}: latency`, 'ms', xmax, lat),
    '</svg>\n',
  ].join('\n');
}
