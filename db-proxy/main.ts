/**
 * db-proxy: `npm run db-proxy`. Reads its settings from the environment
 * (see README, Configuration), serves until SIGINT/SIGTERM, then shuts down
 * gracefully: every request already read is answered before exit.
 */
import pino from 'pino';
import { closeOnSignal } from '../common/lifecycle.ts';
import { loadConfig } from './config.ts';
import { startDbProxy } from './db-proxy.ts';

const config = loadConfig(process.env);
const log = pino({ level: config.logLevel }).child({ proc: 'db-proxy', instance: process.pid });

const proxy = await startDbProxy(config, log).catch((err: unknown) => {
  // A refusal to start (a wrong shard layout, a port in use) is one clear line, not a stack trace.
  log.fatal({ code: (err as { code?: string }).code }, `db-proxy not started: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
log.info({ address: proxy.address, workers: config.workers, shards: config.storage.shards }, 'db-proxy listening');

closeOnSignal(log, () => proxy.close());
