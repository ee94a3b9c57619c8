/**
 * Piscina worker: one set of MySQL pools and one Redis client per worker,
 * opened on first use; each task is one packed batch.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { workerData } from 'node:worker_threads';
import type { BatchResult, BatchTask } from './batch.ts';
import { runBatch } from './batch-runner.ts';
import { createContext, whenRedisReady, type OwnedContext, type StorageConfig } from './context.ts';
import { registry } from './handlers/index.ts';

let ctx: Promise<OwnedContext> | null = null;

function context(): Promise<OwnedContext> {
  ctx ??= (async () => {
    const cfg = workerData as StorageConfig;
    const c = createContext(cfg);
    await whenRedisReady(c, cfg.connectTimeoutMs);
    return c;
  })();
  return ctx;
}

export default async function run(task: BatchTask): Promise<unknown> {
  const result = await runBatch(await context(), registry, task);
  return movable(result);
}

/** Hands both buffers of a result back without copying them. */
function movable(result: BatchResult): unknown {
  return move({
    get [transferableSymbol]() {
      return [result.meta.buffer, result.data];
    },
    get [valueSymbol]() {
      return result;
    },
  });
}
