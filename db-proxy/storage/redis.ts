import { Redis } from 'ioredis';

export interface RedisOptions {
  url: string;
  /** Prepended to every key; empty to share keys with an existing TeamTalk deployment. */
  keyPrefix: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
}

/**
 * A Redis client that fails fast while Redis is away (no offline queue, a
 * bounded command time) and reconnects on its own with capped backoff.
 */
export function createRedis(opts: RedisOptions): Redis {
  const client = new Redis(opts.url, {
    keyPrefix: opts.keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    lazyConnect: false,
  });
  // Errors are reported per command; a connection error alone must not crash.
  client.on('error', () => undefined);
  return client;
}
