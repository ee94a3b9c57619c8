/** The chaos suite's table (one row per scenario) and its JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChaosOptions } from './options.ts';
import type { ScenarioReport } from './scenario.ts';

export interface ChaosReport {
  startedAt: string;
  command: string;
  environment: Record<string, unknown>;
  options: ChaosOptions;
  scenarios: ScenarioReport[];
  /** Processes that exited without being told to, over the whole run. */
  unexpectedExits: string[];
  ms: number;
}

const COLUMNS: [string, (r: ScenarioReport) => string][] = [
  ['scenario', (r) => r.name],
  ['sent', (r) => String(r.verdict.sent)],
  ['acked', (r) => String(r.verdict.acked)],
  ['refused', (r) => String(r.verdict.refused)],
  ['no answer', (r) => String(r.verdict.unanswered)],
  ['lost', (r) => String(r.verdict.lost)],
  ['dup', (r) => String(r.verdict.duplicates)],
  ['refused+stored', (r) => String(r.verdict.refusedStored)],
  ['no-answer+stored', (r) => String(r.verdict.unansweredStored)],
  ['order', (r) => String(r.verdict.orderViolations)],
  ['unpushed online', (r) => String(r.verdict.unpushedOnline)],
  ['uncounted', (r) => String(r.verdict.unpushedUncounted)],
  ['unread -/+', (r) => `${r.verdict.unreadMissing}/${r.verdict.unreadExtra}`],
  ['slowest ms', (r) => String(r.recovery.slowestAnswerMs)],
  ['ack back', (r) => back(r, r.recovery.ackBackMs, r.recovery.ackNeverPairs)],
  ['push back', (r) => back(r, r.recovery.pushBackMs, r.recovery.pushNeverPairs)],
  ['p99 ms', (r) => String(r.recovery.duringFault.count > 0 ? r.recovery.duringFault.p99Ms : r.recovery.overall.p99Ms)],
  ['rss max %', (r) => rssText(r)],
  ['died', (r) => String(r.died.length)],
  ['ok', (r) => (r.broken.length === 0 ? 'yes' : 'NO')],
];

function back(r: ScenarioReport, ms: number | null, never: number): string {
  if (r.fault?.listenAfterMs == null) return '-';
  return ms === null ? `never(${never})` : String(ms);
}

function rssText(r: ScenarioReport): string {
  const g = Object.values(r.memory).map((m) => m.growth).filter((x): x is number => x !== null);
  return g.length === 0 ? '-' : `${Math.round(Math.max(...g) * 1000) / 10}`;
}

export function table(rows: ScenarioReport[]): string {
  const cells = [COLUMNS.map(([h]) => h), ...rows.map((r) => COLUMNS.map(([, f]) => f(r)))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('-|-'), ...cells.slice(1).map(line)].join('\n');
}

/** What each scenario broke, and the notes of the verifier and the fault. */
export function details(rows: ScenarioReport[]): string {
  const out: string[] = [];
  for (const r of rows) {
    const extra = r.fault ? JSON.stringify(r.fault.extra) : '';
    out.push(`${r.name}: ${r.broken.length === 0 ? 'all promises kept' : `broken: ${r.broken.join(', ')}`}${r.error ? ` (error: ${r.error})` : ''}`);
    if (extra.length > 2) out.push(`  fault: ${extra.length > 600 ? `${extra.slice(0, 600)}…` : extra}`);
    for (const n of r.verdict.notes) out.push(`  ${n}`);
    for (const d of r.died) out.push(`  ${d}`);
  }
  return out.join('\n');
}

export function writeReport(dir: string, report: ChaosReport): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `chaos-${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
