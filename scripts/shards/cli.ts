/**
 * What `npm run shards -- <command>` runs (scripts/shards.ts) — the operator's tool for the stored shard
 * map (README: Shards across servers). Commands:
 *
 *   status                     the map in force, rows and size per shard, db-proxies, freeze, job
 *   plan move <k> <url>        what a move would copy (same as move --dry-run)
 *   plan split                 what a split N → 2N would copy
 *   move <k> <mysql-url>       moves shard k (IMMessage_k, IMGroupMessage_k) to another server, online
 *   split [--place k=url;...]  N → 2N online: IMMessage_k keeps relateId % 2N = k, the rest goes to k+N
 *   verify                     source against target of the last job, per id range
 *   resume                     goes on with the unfinished job from its checkpoints
 *   abort                      ends the unfinished job (and its freeze); copied rows stay where they are
 *   cleanup                    removes what the last done job left at its sources
 *
 * Needs MYSQL_URL (the main database) and, to tell db-proxies at once,
 * REDIS_URL with the same REDIS_KEY_PREFIX as db-proxy (else they notice at
 * their next poll). `--help` lists the options.
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { urlFromEnv, stringFromEnv } from '../../common/config.ts';
import { replicasFromEnv } from '../../db-proxy/config.ts';
import { formatRanges, hostsOf, redactUrl, type ShardMap } from '../../db-proxy/storage/shard-map.ts';
import * as store from '../../db-proxy/storage/shard-map-store.ts';
import { cleanup } from './cleanup.ts';
import { Pools, countAbove } from './copy.ts';
import { createJob, lastJob, openJob, saveJob, type Job } from './jobs.ts';
import { Progress } from './progress.ts';
import { runJob, type JobReport, type RunOptions, type ShardEnv } from './run-job.ts';
import { describe, tasksOf, type JobSpec, type SplitSpec } from './tasks.ts';
import { verifyTask } from './verify.ts';
import { runningStack } from '../stack.ts';

const USAGE = `usage: npm run shards -- <command> [options]
  status [--exact]              map, rows/size per shard (--exact: COUNT(*)), replica lag, db-proxies, freeze, job
  plan move <shard> <mysql-url> | plan split [--place k=url;...]
  move <shard> <mysql-url>      move one shard to another server, online
  split [--place k=url;...]     N -> 2N online; new shard k+N on the server of k unless placed
  verify                        check the last job's copies (row counts and checksums per id range)
  resume                        continue the unfinished job from its checkpoints
  abort                         end the unfinished job and its freeze
  cleanup                       remove what the last done job left at its sources (a move: the old tables;
                                a split: the rows that moved), after verifying it again
options:
  --dry-run                     say what would be done, change nothing
  --max-rows-per-sec N          copy at most N rows/s (default 0: no limit)
  --chunk N                     rows per copy chunk (default 2000)
  --max-lag-ms N                a chunk insert slower than this pauses the copy as long, and so does a target's
                                replica (MYSQL_REPLICAS) further behind than this (default 500)
  --freeze-ms N                 bound of one write freeze (default 1000)
  --settle-ms N                 how long a row id may take to commit (default 2000)
  --live-ms N                   db-proxies seen within this are waited for (default 5000)
  --attempts N                  freezes tried before failing, 1 s, 2 s, 4 s ... apart (default 4)
  --verify-range N              ids per verify range (default 50000)`;

const MAX_SHARDS = 1024;

function int(v: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: ${v} is not an integer in ${min}..${max}`);
  return n;
}

interface Cli {
  command: string;
  args: string[];
  dryRun: boolean;
  exact: boolean;
  place: string;
  run: RunOptions;
}

function parseCli(argv: string[]): Cli | null {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      exact: { type: 'boolean' },
      place: { type: 'string' },
      'max-rows-per-sec': { type: 'string' },
      chunk: { type: 'string' },
      'max-lag-ms': { type: 'string' },
      'freeze-ms': { type: 'string' },
      'settle-ms': { type: 'string' },
      'live-ms': { type: 'string' },
      attempts: { type: 'string' },
      'verify-range': { type: 'string' },
    },
  });
  if (values.help || positionals.length === 0) return null;
  return {
    command: positionals[0]!,
    args: positionals.slice(1),
    dryRun: values['dry-run'] === true,
    exact: values.exact === true,
    place: values.place ?? '',
    run: {
      chunk: int(values.chunk, 'chunk', 2000, 1, 100_000),
      maxRowsPerSec: int(values['max-rows-per-sec'], 'max-rows-per-sec', 0, 0, 10_000_000),
      maxLagMs: int(values['max-lag-ms'], 'max-lag-ms', 500, 1, 600_000),
      freezeMs: int(values['freeze-ms'], 'freeze-ms', 1000, 200, 60_000),
      settleMs: int(values['settle-ms'], 'settle-ms', 2000, 0, 600_000),
      liveMs: int(values['live-ms'], 'live-ms', 5000, 100, 600_000),
      attempts: int(values.attempts, 'attempts', 4, 1, 100),
      verifyRange: int(values['verify-range'], 'verify-range', 50_000, 100, 100_000_000),
    },
  };
}

function specOf(cli: Cli, map: ShardMap, args: string[]): JobSpec {
  const [kind, ...rest] = args;
  if (kind === 'move') {
    const shard = Number(rest[0]);
    const target = rest[1] ?? '';
    if (!Number.isInteger(shard) || shard < 0 || shard >= map.shards) throw new Error(`move: shard must be 0..${map.shards - 1}`);
    if (!/^(mysql|mariadb):\/\//.test(target)) throw new Error('move: the target must be a mysql:// URL');
    if (/[;\s>]/.test(target)) throw new Error('move: the target URL holds ";", ">" or a space, which the shard map text cannot carry: percent-encode them (";" is %3B)');
    if (map.shardUrls[shard] === target) throw new Error(`move: shard ${shard} is already on ${redactUrl(target)}`);
    return { kind: 'move', shard, target };
  }
  if (kind === 'split') {
    if (map.shards * 2 > MAX_SHARDS) throw new Error(`split: ${map.shards * 2} shards is more than ${MAX_SHARDS}`);
    // Every shard --place names is placed as named, MYSQL_URL's server too; the others go where k is.
    const place: SplitSpec['place'] = {};
    for (const part of cli.place.split(';').map((p) => p.trim()).filter(Boolean)) {
      const eq = part.indexOf('=');
      const k = Number(part.slice(0, eq));
      const url = part.slice(eq + 1).trim();
      if (eq <= 0 || !Number.isInteger(k) || k < map.shards || k >= map.shards * 2) {
        throw new Error(`split --place: "${part}" is not "<k>=<mysql url>" for a new shard ${map.shards}..${map.shards * 2 - 1}`);
      }
      if (!/^(mysql|mariadb):\/\/[^\s>]+$/.test(url)) throw new Error(`split --place: "${url}" is not a mysql:// URL (percent-encode ";", ">" and spaces)`);
      place[k] = url;
    }
    return { kind: 'split', from: map.shards, place };
  }
  throw new Error(`unknown job "${kind ?? ''}": move or split`);
}

async function status(env: ShardEnv, exact: boolean): Promise<void> {
  const map = await store.currentMap(env.main, env.mainUrl);
  if (!map) {
    console.log('no shard map stored yet: the first db-proxy to start seeds it from SHARDS and SHARD_MAP');
    return;
  }
  console.log(`shard map version ${map.version}: ${map.shards} shards`);
  for (const host of hostsOf(map)) {
    if (host.shards.length === 0) continue;
    console.log(`  ${redactUrl(host.url)}${host.url === map.mainUrl ? ' (MYSQL_URL)' : ''}: shards ${formatRanges(host.shards)}`);
    const [rows] = await env.pools
      .get(host.url)
      .query<RowDataPacket[]>(
        "SELECT TABLE_NAME AS t, TABLE_ROWS AS n, DATA_LENGTH + INDEX_LENGTH AS b FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND (TABLE_NAME LIKE 'IMMessage\\_%' OR TABLE_NAME LIKE 'IMGroupMessage\\_%')",
      );
    const byTable = new Map(rows.map((r) => [String(r.t), r]));
    for (const k of host.shards) {
      const parts: string[] = [];
      for (const p of ['IMMessage', 'IMGroupMessage']) {
        const r = byTable.get(`${p}_${k}`);
        if (!r) {
          parts.push(`${p}_${k} MISSING`);
          continue;
        }
        let n = Number(r.n);
        if (exact) {
          const [[c]] = await env.pools.get(host.url).query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${p}_${k}\``);
          n = Number(c!.n);
        }
        parts.push(`${p}_${k} ${exact ? '' : '~'}${n.toLocaleString('en')} rows ${(Number(r.b) / 1048576).toFixed(1)} MiB`);
      }
      console.log(`    ${k}: ${parts.join(', ')}`);
    }
  }
  for (const [server, replica] of env.replicas) {
    let lag: string;
    try {
      const [[r]] = (await env.pools
        .get(replica)
        .query('SELECT TIMESTAMPDIFF(MICROSECOND, at, NOW(3)) DIV 1000 AS ms FROM replica_heartbeat WHERE id = 1')) as unknown as [[{ ms: number }?]];
      lag = r ? `${Number(r.ms)} ms behind (db-proxy heartbeat)` : 'no heartbeat yet (is a db-proxy running with it?)';
    } catch (err) {
      lag = `unreachable: ${(err as Error).message}`;
    }
    console.log(`replica of ${redactUrl(server)}: ${redactUrl(replica)}, ${lag}`);
  }
  const live = await store.liveInstances(env.main, 60_000);
  console.log(`db-proxies seen in the last minute: ${live.length}`);
  for (const i of live) console.log(`  ${i.id}: map version ${i.mapVersion}, ${i.frozenId ? `holding freeze ${i.frozenId}, ` : ''}seen ${i.seenAgoMs} ms ago`);
  const f = await store.pendingFreeze(env.main);
  if (f) console.log(`freeze ${f.id} pending: shards ${f.shards.join(',')}, ${f.expiresInMs} ms left`);
  const job = (await openJob(env.main)) ?? (await lastJob(env.main));
  if (job) console.log(`job ${job.id} (${describe(job.spec)}): ${job.state}${job.message ? ` — ${job.message}` : ''}`);
}

async function plan(env: ShardEnv, spec: JobSpec, map: ShardMap): Promise<void> {
  console.log(`plan: ${describe(spec)} (map version ${map.version})`);
  let total = 0;
  for (const t of tasksOf(spec, map)) {
    const n = await countAbove(env.pools, t, 0);
    total += n;
    const filter = t.filter ? ` where ${t.filter.column} % ${t.filter.mod} = ${t.filter.rem}` : '';
    console.log(`  ${t.src.table}@${redactUrl(t.src.url)}${filter} -> ${t.key}: ${n.toLocaleString('en')} rows`);
  }
  console.log(`  ${total.toLocaleString('en')} rows to copy, then a write freeze of at most the --freeze-ms bound; nothing was changed`);
}

/** Runs a job to its end and prints what it did; 0 when its verify is clean. */
async function runAndReport(env: ShardEnv, job: Job, opts: RunOptions): Promise<number> {
  const report = await runJob(env, job, opts);
  printReport(report);
  return report.verify.every((v) => v.diffs.length === 0) ? 0 : 1;
}

function printReport(r: JobReport): void {
  console.log(`copied ${r.copied.toLocaleString('en')} rows at ${r.copyRowsPerSec.toLocaleString('en')} rows/s`);
  if (r.freezeMs !== null) console.log(`writes frozen ${r.freezeMs} ms; map version ${r.version}`);
  for (const f of r.failedFreezes) console.log(`  ${f}`);
  printVerdicts(r.verify);
}

function printVerdicts(verdicts: Awaited<ReturnType<typeof verifyTask>>[]): void {
  for (const v of verdicts) {
    const what = v.diffs.length === 0 ? 'clean' : `${v.diffs.length} range(s) differ`;
    console.log(`verify ${v.task}: ${v.rows.toLocaleString('en')} rows in ${v.ranges} range(s): ${what}`);
    for (const d of v.diffs.slice(0, 10)) console.log(`  ids ${d.from + 1}..${d.to}: source ${d.source.rows} rows / ${d.source.sum}, target ${d.target.rows} rows / ${d.target.sum}`);
  }
}

/** Runs one command; the exit code. */
export async function runShards(argv: string[], env: ShardEnv): Promise<number> {
  const cli = parseCli(argv);
  if (!cli) {
    console.log(USAGE);
    return 0;
  }
  const map = await store.currentMap(env.main, env.mainUrl);
  const needMap = (): ShardMap => {
    if (!map) throw new Error('no shard map stored yet: start db-proxy once (it seeds the map from SHARDS and SHARD_MAP)');
    return map;
  };
  if (['move', 'split', 'resume', 'abort', 'cleanup'].includes(cli.command) && !cli.dryRun) {
    return withToolLock(env, () => runCommand(cli, env, needMap));
  }
  return runCommand(cli, env, needMap);
}

/** One run of the tool at a time changes shards: a MySQL lock held on a connection of its own for the run. */
async function withToolLock(env: ShardEnv, fn: () => Promise<number>): Promise<number> {
  const conn = await env.main.getConnection();
  try {
    const [[row]] = (await conn.query("SELECT GET_LOCK('tt_shards_tool', 0) AS ok")) as unknown as [[{ ok: number | null }]];
    if (row?.ok !== 1) throw new Error('another `npm run shards` run holds the shard tool lock');
    try {
      return await fn();
    } finally {
      await conn.query("SELECT RELEASE_LOCK('tt_shards_tool')").catch(() => undefined);
    }
  } finally {
    conn.release();
  }
}

async function runCommand(cli: Cli, env: ShardEnv, needMap: () => ShardMap): Promise<number> {
  switch (cli.command) {
    case 'status':
      await status(env, cli.exact);
      return 0;
    case 'plan':
      await plan(env, specOf(cli, needMap(), cli.args), needMap());
      return 0;
    case 'move':
    case 'split': {
      const spec = specOf(cli, needMap(), [cli.command, ...cli.args]);
      if (cli.dryRun) {
        await plan(env, spec, needMap());
        return 0;
      }
      const open = await openJob(env.main);
      if (open) throw new Error(`job ${open.id} (${describe(open.spec)}) is ${open.state}: resume or abort it first`);
      return runAndReport(env, await createJob(env.main, spec, needMap().version), cli.run);
    }
    case 'resume': {
      const job = await openJob(env.main);
      if (!job) throw new Error('no unfinished job');
      if (cli.dryRun) {
        console.log(`would resume job ${job.id} (${describe(job.spec)}), ${job.state}, from checkpoints ${JSON.stringify(job.checkpoints)}`);
        return 0;
      }
      return runAndReport(env, job, cli.run);
    }
    case 'abort': {
      const job = await openJob(env.main);
      if (!job) throw new Error('no unfinished job');
      if (job.state === 'flipped') throw new Error(`job ${job.id} already switched the map: resume it (it sweeps and verifies), there is nothing to abort`);
      if (cli.dryRun) {
        console.log(`would abort job ${job.id} (${describe(job.spec)}) and end any pending freeze`);
        return 0;
      }
      const f = await store.pendingFreeze(env.main);
      if (f) await store.releaseFreeze(env.main, f.id);
      job.state = 'aborted';
      job.message = 'aborted by the operator';
      await saveJob(env.main, job);
      console.log(`job ${job.id} aborted; rows it copied stay in the targets (the map still sends nothing there)`);
      return 0;
    }
    case 'cleanup':
      return cleanup(env, { dryRun: cli.dryRun, chunk: cli.run.chunk, maxRowsPerSec: cli.run.maxRowsPerSec, verifyRange: cli.run.verifyRange });
    case 'verify': {
      const job: Job | null = await lastJob(env.main);
      if (!job) throw new Error('no job to verify');
      if (job.message.includes('cleaned up')) {
        console.log(`job ${job.id} was cleaned up after: its sources are gone, nothing to verify`);
        return 0;
      }
      const base = await store.mapAt(env.main, env.mainUrl, job.mapVersion);
      const verdicts = [];
      for (const t of tasksOf(job.spec, base)) verdicts.push(await verifyTask(env.pools, t, cli.run.verifyRange));
      printVerdicts(verdicts);
      return verdicts.every((v) => v.diffs.length === 0) ? 0 : 1;
    }
    default:
      console.log(USAGE);
      return 2;
  }
}

/** The environment of a command-line run: MYSQL_URL (or the embedded stack's), REDIS_URL when given. */
export async function openEnv(env: NodeJS.ProcessEnv = process.env): Promise<ShardEnv & { close(): Promise<void> }> {
  const mainUrl = urlFromEnv(env, 'MYSQL_URL', ['mysql', 'mariadb']) ?? runningStack()?.mysqlUrl;
  if (!mainUrl) throw new Error('MYSQL_URL is not set and no embedded stack is running');
  const redisUrl = urlFromEnv(env, 'REDIS_URL', ['redis', 'rediss']) ?? runningStack()?.redisUrl;
  const main: Pool = mysql.createPool({ uri: mainUrl, connectionLimit: 3, connectTimeout: 5000 });
  const redis = redisUrl ? new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1, commandTimeout: 1000, connectTimeout: 2000 }) : null;
  redis?.on('error', () => undefined);
  const pools = new Pools();
  return {
    main,
    mainUrl,
    pools,
    redis,
    keyPrefix: stringFromEnv(env, 'REDIS_KEY_PREFIX', ''),
    log: (line) => console.log(`shards: ${line}`),
    progress: new Progress(),
    replicas: replicasFromEnv(env, mainUrl),
    async close() {
      redis?.disconnect();
      await pools.close();
      await main.end().catch(() => undefined);
    },
  };
}

