/**
 * The bare baseline: db-proxy's own hot path for one-to-one messages
 * (msgData.run from db-proxy/handlers/message-data.ts: relation look-up,
 * Redis msg-id allocation, one multi-row INSERT per shard table, recent
 * sessions, one Redis pipeline of HINCRBY unread) called in this process
 * with group commit — no protocol, no framing, no sockets, no workers.
 * `concurrency` senders each keep one message outstanding; batches of up to
 * batchMax run `slots` at a time. Its users are disjoint from the load's.
 */
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createContext, whenRedisReady, type StorageConfig } from '../../db-proxy/context.ts';
import { msgData } from '../../db-proxy/handlers/message-data.ts';
import { Histogram } from './histogram.ts';
import { CONTENT, MSG_TEXT } from './workload.ts';
import type { LatencySummary } from './types.ts';

/** Baseline pair p sends from BASE + 2p + 1 to BASE + 2p + 2 (never a load user). */
export const BASELINE_USER_BASE = 1_000_000;

export function baselinePairs(n: number): [number, number][] {
  return Array.from({ length: n }, (_, p) => [BASELINE_USER_BASE + 2 * p + 1, BASELINE_USER_BASE + 2 * p + 2]);
}

export interface BaselineOptions {
  storage: StorageConfig;
  pairs: number;
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  batchMax: number;
  slots: number;
}

export interface BaselineResult {
  concurrency: number;
  ok: number;
  failed: number;
  rate: number;
  latency: LatencySummary;
  cpuPct: number;
}

interface Item {
  req: { fromUserId: number; toSessionId: number; msgId: number; createTime: number; msgType: number; msgData: Buffer };
  done: (msgId: number) => void;
}

export async function runBaseline(opts: BaselineOptions): Promise<BaselineResult> {
  const ctx = createContext(opts.storage, pino({ level: 'warn' }));
  await whenRedisReady(ctx, 5000);
  const pairs = baselinePairs(opts.pairs);
  const hist = new Histogram();
  const queue: Item[] = [];
  let running = 0;
  let ok = 0;
  let failed = 0;
  let measuredOk = 0;
  const start = performance.now();
  const measureFrom = start + opts.warmupMs;
  const stopAt = start + opts.durationMs;
  const cpu0 = process.cpuUsage();
  let lastAt = start;

  const pump = (): void => {
    while (running < opts.slots && queue.length > 0) {
      const batch = queue.splice(0, opts.batchMax);
      running++;
      msgData
        .run(ctx, batch.map((b) => b.req))
        .then(
          (answers) => batch.forEach((b, i) => b.done((answers[i]?.message as { msgId?: number } | undefined)?.msgId ?? 0)),
          () => batch.forEach((b) => b.done(0)),
        )
        .finally(() => {
          running--;
          pump();
        });
    }
  };
  let scheduled = false;
  const send = (item: Item): void => {
    queue.push(item);
    if (!scheduled) {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        pump();
      });
    }
  };

  const sender = async (s: number): Promise<void> => {
    const mine = pairs.filter((_, p) => p % opts.concurrency === s);
    for (let k = 0; mine.length > 0 && performance.now() < stopAt; k++) {
      const [from, to] = mine[k % mine.length]!;
      const t0 = performance.now();
      const msgId = await new Promise<number>((done) =>
        send({ req: { fromUserId: from, toSessionId: to, msgId: 0, createTime: 0, msgType: MSG_TEXT, msgData: CONTENT }, done }),
      );
      const t1 = performance.now();
      if (msgId > 0) {
        ok++;
        lastAt = t1;
        if (t1 >= measureFrom) {
          measuredOk++;
          hist.record((t1 - t0) * 1000);
        }
      } else {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, s) => sender(s)));
  const wall = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  await ctx.close();
  const measuredMs = Math.max(1, lastAt - Math.min(measureFrom, lastAt));
  return {
    concurrency: opts.concurrency,
    ok,
    failed,
    rate: Math.round((measuredOk * 1000) / measuredMs),
    latency: hist.summary(),
    cpuPct: Math.round(((cpu.user + cpu.system) / 1000 / wall) * 1000) / 10,
  };
}
