/**
 * Piscina worker: one set of MySQL pools and one Redis client per worker,
 * opened on first use; each task is one packed batch.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { workerData } from 'node:worker_threads';
import type { BatchResult, BatchTask } from './batch.ts';
import { runBatch } from './batch-runner.ts';
import { createContext, whenRedisReady, type OwnedContext } from './context.ts';
import type { WorkerData } from './executor.ts';
import { registry } from './handlers/index.ts';
import { bindOutcomeCounters, OutcomeCounters } from './outcome-stats.ts';
import { ShardFence } from './storage/shard-fence.ts';

let ctx: Promise<OwnedContext> | null = null;

function context(): Promise<OwnedContext> {
  ctx ??= (async () => {
    const data = workerData as WorkerData;
    const c = createContext(data.storage, undefined, new ShardFence(data.fence));
    bindOutcomeCounters(c.mysql, new OutcomeCounters(data.outcomes));
    await whenRedisReady(c, data.storage.connectTimeoutMs);
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
