/** What every process shares about starting and stopping. */
import type net from 'node:net';
import type { Logger } from 'pino';

/** Listens on host:port; resolves with the bound address (port 0 picks a free one). */
export function listen(server: net.Server, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as net.AddressInfo;
      resolve({ host: a.address, port: a.port });
    });
  });
}

/**
 * On the first SIGINT or SIGTERM: log, run the graceful `close`, exit 0 (1 if
 * closing failed). Further signals while closing are ignored. Only a
 * process's main.ts calls this: it is the one place that exits.
 */
export function closeOnSignal(log: Logger, close: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      close().then(
        () => {
          log.info('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

/**
 * Resolves when `work` settles or after `ms`, whichever comes first. The
 * timer is not unref'd (a process waiting on it must stay alive) and is
 * cleared as soon as the race is decided.
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([work.then(() => undefined, () => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
