import type { Logger } from 'pino';
import type { DbProxyConfig } from './config.ts';
import { createExecutor } from './executor.ts';
import { registry } from './handlers/index.ts';
import { DbProxyServer } from './server.ts';

export interface RunningDbProxy {
  address: { host: string; port: number };
  server: DbProxyServer;
  /** Graceful: answers what is in flight, then closes links and workers. Idempotent. */
  close(): Promise<void>;
}

/** Starts the executor (workers or inline) and the listener. */
export async function startDbProxy(config: DbProxyConfig, log: Logger): Promise<RunningDbProxy> {
  const executor = await createExecutor({
    workers: config.workers,
    concurrentTasksPerWorker: config.concurrentTasksPerWorker,
    maxQueue: config.server.maxInFlightBatches * 2,
    storage: config.storage,
  });
  const server = new DbProxyServer(config.server, executor, registry, log);
  let address;
  try {
    address = await server.listen();
  } catch (err) {
    await executor.close();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    address,
    server,
    close() {
      closing ??= server.close().then(() => executor.close());
      return closing;
    },
  };
}
