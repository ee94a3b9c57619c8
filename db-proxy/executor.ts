import { Piscina } from 'piscina';
import { packRequests, type BatchResult, type BatchTask } from './batch.ts';
import { runBatch } from './batch-runner.ts';
import { createContext, whenRedisReady, type StorageConfig } from './context.ts';
import { registry } from './handlers/index.ts';
import { bindOutcomeCounters, OutcomeCounters } from './outcome-stats.ts';
import type { ShardFence } from './storage/shard-fence.ts';

/** Runs packed batches: on a piscina pool, or inline on the event loop (0 workers). */
export interface Executor {
  run(task: BatchTask): Promise<BatchResult>;
  close(): Promise<void>;
  /** Message outcome counters of every worker. */
  outcomes: OutcomeCounters;
}

/** What a worker is started with. */
export interface WorkerData {
  storage: StorageConfig;
  outcomes: SharedArrayBuffer;
  /** The ShardFence's buffer, shared with the event loop. */
  fence: SharedArrayBuffer;
}

export interface ExecutorOptions {
  workers: number;
  concurrentTasksPerWorker: number;
  /** Tasks piscina may queue beyond the running ones. */
  maxQueue: number;
  storage: StorageConfig;
  /** The fence the shard map follower freezes (shared with every worker). */
  fence: ShardFence;
}

export async function createExecutor(opts: ExecutorOptions): Promise<Executor> {
  const outcomes = new OutcomeCounters();
  if (opts.workers === 0) {
    const ctx = createContext(opts.storage, undefined, opts.fence);
    bindOutcomeCounters(ctx.mysql, outcomes);
    await whenRedisReady(ctx, opts.storage.connectTimeoutMs);
    return {
      outcomes,
      run: (task) => runBatch(ctx, registry, task),
      close: () => ctx.close(),
    };
  }
  const pool = new Piscina({
    filename: new URL('./worker.ts', import.meta.url).href,
    minThreads: opts.workers,
    maxThreads: opts.workers,
    concurrentTasksPerWorker: opts.concurrentTasksPerWorker,
    // Workers hold open sockets: they must keep their event loop turning between tasks.
    atomics: 'disabled',
    idleTimeout: Infinity,
    maxQueue: opts.maxQueue,
    workerData: { storage: opts.storage, outcomes: outcomes.buffer, fence: opts.fence.buffer } satisfies WorkerData,
  });
  // Boot every worker (module load, connections) before the first request:
  // its deadline must not pay for that. Empty batches, one per task slot, so
  // that each worker gets some.
  const slots = opts.workers * opts.concurrentTasksPerWorker;
  await Promise.allSettled(Array.from({ length: slots }, () => pool.run(packRequests([], Date.now() + opts.storage.connectTimeoutMs))));
  return {
    outcomes,
    run(task) {
      return pool.run(task, { transferList: [task.meta.buffer as ArrayBuffer, task.data] }) as Promise<BatchResult>;
    },
    async close() {
      await pool.close();
    },
  };
}
