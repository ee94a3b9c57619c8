/**
 * The cluster benchmark's SVG: delivered msgs/s against the offered rate
 * (left; the dashed diagonal is "everything offered was delivered") and
 * send → deliver p50 / p99 latency against the offered rate (right; the
 * dashed line is the 100 ms target).
 */
import { niceMax, panel, twoPanels, W, type Series, type XAxis } from '../bench/svg.ts';

export interface ChartPoint {
  offered: number;
  delivered: number;
  p50Ms: number;
  p99Ms: number;
}

export function renderClusterChart(points: ChartPoint[], title: string): string {
  const xmax = niceMax(Math.max(...points.map((p) => p.offered), 1));
  const x: XAxis = { label: 'offered msgs/s', ticks: [0, 1, 2, 3, 4, 5].map((i) => (xmax * i) / 5), pos: (v) => v / xmax };
  const rate: Series[] = [
    { label: 'delivered', color: '#1f77b4', dash: '', pts: points.map((p) => [p.offered, p.delivered]) },
    { label: 'offered', color: '#999', dash: '6 4', pts: [[0, 0], [xmax, xmax]], dots: false },
  ];
  const lat: Series[] = [
    { label: 'p50 send→deliver', color: '#2ca02c', dash: '', pts: points.map((p) => [p.offered, p.p50Ms]) },
    { label: 'p99 send→deliver', color: '#d62728', dash: '', pts: points.map((p) => [p.offered, p.p99Ms]) },
    { label: 'target p99 100 ms', color: '#999', dash: '6 4', pts: [[0, 100], [xmax, 100]], dots: false },
  ];
  return twoPanels(panel(0, `${title}: throughput`, 'delivered msgs/s', x, rate), panel(W, `${title}: latency`, 'ms', x, lat));
}
