import { Piscina } from 'piscina';
import type { BatchResult, BatchTask } from './batch.ts';
import { runBatch } from './batch-runner.ts';
import { createContext, whenRedisReady, type StorageConfig } from './context.ts';
import { registry } from './handlers/index.ts';

/** Runs packed batches: on a piscina pool, or inline on the event loop (0 workers). */
export interface Executor {
  run(task: BatchTask): Promise<BatchResult>;
  close(): Promise<void>;
}

export interface ExecutorOptions {
  workers: number;
  concurrentTasksPerWorker: number;
  /** Tasks piscina may queue beyond the running ones. */
  maxQueue: number;
  storage: StorageConfig;
}

export async function createExecutor(opts: ExecutorOptions): Promise<Executor> {
  if (opts.workers === 0) {
    const ctx = createContext(opts.storage);
    await whenRedisReady(ctx, opts.storage.connectTimeoutMs);
    return {
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
    workerData: opts.storage,
  });
  return {
    run(task) {
      return pool.run(task, { transferList: [task.meta.buffer as ArrayBuffer, task.data] }) as Promise<BatchResult>;
    },
    async close() {
      await pool.close();
    },
  };
}
