/**
 * `npm run chaos` — the fault suite. On a private MariaDB and Redis it may
 * kill (under .stack/chaos-<pid>), it starts db-proxy, two route-servers
 * and two access servers as separate processes, drives paced chat load
 * through the access servers, and injects one fault per scenario (kill -9
 * and SIGTERM of each process, MariaDB kill -9 and SIGSTOP, Redis lost,
 * random frames, connection floods, slow readers and 1-byte/s writers).
 * Processes it kills it starts again, as a supervisor would. After each
 * scenario every message is verified against MySQL and Redis. Prints a
 * table, writes bench-results/chaos-<time>.json; exits 1 if a promise was
 * broken. Loopback only; bounded in count and time; Ctrl-C stops
 * everything it started.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions, USAGE } from './chaos/options.ts';
import { details, table, writeReport } from './chaos/report.ts';
import { runChaos, stopRunning } from './chaos/run.ts';

const opts = parseOptions(process.argv.slice(2));
if (!opts) {
  console.log(USAGE);
  process.exit(0);
}
mkdirSync(opts.out, { recursive: true });
const logFile = join(opts.out, `chaos-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
const logStream = createWriteStream(logFile);
/** Progress lines go to the terminal; what the processes log (warnings and errors) only to the log file. */
const log = (m: string): void => {
  logStream.write(`${new Date().toISOString()} ${m}\n`);
  if (!/^(db-proxy|route-\d|access-[ab]|frames)[: ]/.test(m)) console.log(`chaos: ${m}`);
};
process.once('SIGINT', () => {
  console.log('chaos: interrupted; stopping everything');
  void (stopRunning?.() ?? Promise.resolve()).finally(() => process.exit(130));
});

try {
  const report = await runChaos(opts, log, `npm run chaos -- ${process.argv.slice(2).join(' ')}`.trim());
  console.log(`\n${table(report.scenarios)}\n\n${details(report.scenarios)}\n`);
  console.log(`wrote ${writeReport(opts.out, report)} (process logs: ${logFile}); ${(report.ms / 1000).toFixed(0)} s`);
  logStream.end();
  process.exit(report.scenarios.some((s) => s.broken.length > 0) ? 1 : 0);
} catch (err) {
  console.error(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  logStream.end();
  process.exit(2);
}
