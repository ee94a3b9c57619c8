/**
 * The hand-written SVG of the benchmark reports: two panels side by side,
 * each with gridlines, axes, one line per series and a legend.
 */
export const W = 460;
export const H = 300;
const M = { l: 64, r: 16, t: 36, b: 44 };

export interface Series {
  label: string;
  color: string;
  /** stroke-dasharray; '' for a solid line. */
  dash: string;
  pts: [number, number][];
  /** Draw a dot on each point (default true). */
  dots?: boolean;
}

export interface XAxis {
  label: string;
  /** Values labelled under the axis. */
  ticks: number[];
  /** Where x sits along the axis, 0 (left) to 1 (right). */
  pos(x: number): number;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ v. */
export function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

/** One panel at horizontal offset x0. */
export function panel(x0: number, title: string, unit: string, x: XAxis, series: Series[]): string {
  const ymax = niceMax(Math.max(...series.flatMap((s) => s.pts.map(([, y]) => y)), 0));
  const px = (v: number): number => x0 + M.l + x.pos(v) * (W - M.l - M.r);
  const py = (y: number): number => M.t + (1 - Math.min(y, ymax) / ymax) * (H - M.t - M.b);
  const out = [`<text x="${x0 + W / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(title)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const y = (ymax * i) / 5;
    out.push(`<line x1="${x0 + M.l}" x2="${x0 + W - M.r}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${x0 + M.l - 6}" y="${py(y) + 4}" text-anchor="end">${+y.toPrecision(4)}</text>`);
  }
  for (const t of x.ticks) out.push(`<text x="${px(t)}" y="${H - M.b + 16}" text-anchor="middle">${Number.isInteger(t) ? t : +t.toPrecision(4)}</text>`);
  out.push(`<text x="${x0 + W / 2}" y="${H - 8}" text-anchor="middle">${esc(x.label)}</text>`);
  out.push(`<text transform="translate(${x0 + 14},${H / 2}) rotate(-90)" text-anchor="middle">${esc(unit)}</text>`);
  out.push(`<rect x="${x0 + M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#888"/>`);
  series.forEach((s, i) => {
    const pts = [...s.pts].sort((a, b) => a[0] - b[0]);
    const d = pts.map(([px0, y], k) => `${k === 0 ? 'M' : 'L'}${px(px0).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-dasharray="${s.dash}"/>`);
    if (s.dots ?? true) for (const [px0, y] of pts) out.push(`<circle cx="${px(px0).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = M.t + 14 + i * 15;
    out.push(`<line x1="${x0 + M.l + 8}" x2="${x0 + M.l + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2" stroke-dasharray="${s.dash}"/>`);
    out.push(`<text x="${x0 + M.l + 32}" y="${ly}">${esc(s.label)}</text>`);
  });
  return out.join('\n');
}

/** Two panels as one SVG document. */
export function twoPanels(left: string, right: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    left,
    right,
    '</svg>\n',
  ].join('\n');
}
