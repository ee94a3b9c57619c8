/**
 * npm test: type check, lint, storage, then every *.test.ts.
 *
 * Type check and lint run while the storage comes up. Storage is MYSQL_URL /
 * REDIS_URL when set, else a throw-away embedded stack in .stack/test-<pid>
 * that is stopped whatever happens. Tests run with node's test runner, each
 * file in its own process, with MYSQL_URL and REDIS_URL set.
 *
 *   npm test                 everything
 *   npm test -- schema/ foo  only test files whose path contains one of the words
 *
 * TEST_CONCURRENCY (default: CPU count, at most 4) test files run at once;
 * TEST_TIMEOUT_MS (default 120000) bounds each test.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { intFromEnv } from '../common/config.ts';
import { REPO_ROOT, resolveStorage, STACK_ROOT } from './stack.ts';
import type { Storage } from './stack.ts';

const TEST_ROOTS = ['proto', 'common', 'schema', 'scripts', 'db-proxy', 'access-server', 'route-server', 'push-server', 'msfs', 'test'];

interface Outcome {
  code: number;
  output: string;
}

/** Runs a command; output is captured unless `inherit`. */
function run(cmd: string, args: string[], opts: { inherit?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: REPO_ROOT,
      env: opts.env ?? process.env,
      stdio: opts.inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', (err) => resolve({ code: 127, output: `${output}${err.message}\n` }));
    child.once('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });
}

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await work();
  } finally {
    console.log(`[run-tests] ${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

function findTests(filters: string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile() && e.name.endsWith('.test.ts')) found.push(relative(REPO_ROOT, path));
    }
  };
  for (const root of TEST_ROOTS) walk(join(REPO_ROOT, root));
  return found.filter((f) => filters.length === 0 || filters.some((w) => f.includes(w))).sort();
}

function report(label: string, outcome: Outcome): void {
  if (outcome.output.trim() !== '') process.stdout.write(outcome.output.endsWith('\n') ? outcome.output : `${outcome.output}\n`);
  console.log(`[run-tests] ${label}: ${outcome.code === 0 ? 'ok' : `FAILED (exit ${outcome.code})`}`);
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const concurrency = intFromEnv(process.env, 'TEST_CONCURRENCY', Math.min(4, availableParallelism()), { min: 1, max: 64 });
  const timeoutMs = intFromEnv(process.env, 'TEST_TIMEOUT_MS', 120_000, { min: 1_000 });
  const npm = process.env.npm_execpath;
  const lintCmd: [string, string[]] = npm ? [process.execPath, [npm, 'run', '--silent', 'lint']] : ['npm', ['run', '--silent', 'lint']];
  const t0 = Date.now();
  let failed: (string | number)[] = ['setup'];

  let storage: Storage | undefined;
  const stopStorage = async (): Promise<void> => {
    const s = storage;
    storage = undefined;
    if (s !== undefined) await timed('stop storage', () => s.stop());
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => void stopStorage().finally(() => process.exit(130)));
  }

  try {
    const tsc = timed('typecheck', () => run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']));
    const lint = timed('lint', () => run(...lintCmd));
    const storageReady = timed('storage', () =>
      resolveStorage(process.env, { dir: join(STACK_ROOT, `test-${process.pid}`), ephemeral: true }),
    ).then(
      (s) => ((storage = s), undefined),
      (err: unknown) => err,
    );
    const [tscOut, lintOut, storageErr] = await Promise.all([tsc, lint, storageReady]);
    report('typecheck', tscOut);
    report('lint', lintOut);
    if (storageErr !== undefined || storage === undefined) {
      console.error(`[run-tests] storage: FAILED: ${storageErr instanceof Error ? storageErr.message : String(storageErr)}`);
      failed = ['storage'];
      return 1;
    }
    const { mysqlUrl, redisUrl, started } = storage as Storage;
    console.log(`[run-tests] storage: MySQL ${started.mysql ? 'embedded' : 'from MYSQL_URL'}, Redis ${started.redis ? 'embedded' : 'from REDIS_URL'}`);

    const files = findTests(filters);
    console.log(`[run-tests] ${files.length} test file(s), concurrency ${concurrency}`);
    let testCode = 0;
    if (files.length > 0) {
      const args = [
        '--import', 'tsx',
        '--unhandled-rejections=strict',
        '--test',
        '--test-reporter=spec',
        `--test-concurrency=${concurrency}`,
        `--test-timeout=${timeoutMs}`,
        ...files,
      ];
      const env = { ...process.env, MYSQL_URL: mysqlUrl, REDIS_URL: redisUrl };
      testCode = (await timed('tests', () => run(process.execPath, args, { inherit: true, env }))).code;
    } else if (filters.length > 0) {
      console.error('[run-tests] no test file matches the filter');
      testCode = 1;
    }
    failed = [tscOut.code && 'typecheck', lintOut.code && 'lint', testCode && 'tests'].filter((f) => f !== 0);
    return testCode || tscOut.code || lintOut.code;
  } finally {
    await stopStorage();
    const verdict = failed.length === 0 ? 'all passed' : `FAILED: ${failed.join(', ')}`;
    console.log(`[run-tests] ${verdict} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

process.on('unhandledRejection', (err) => {
  console.error('[run-tests] unhandled rejection:', err);
  process.exitCode = 1;
});

main().then(
  (code) => process.exit(code || Number(process.exitCode ?? 0)),
  (err: unknown) => {
    console.error('[run-tests] failed:', err);
    process.exit(1);
  },
);
