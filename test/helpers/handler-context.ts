/**
 * A db-proxy HandlerContext on a fresh test database and Redis key prefix,
 * for tests that call handlers directly (no sockets, no workers).
 */
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createContext, whenRedisReady, type OwnedContext, type StorageConfig } from '../../db-proxy/context.ts';
import { createTestStorage, type TestStorage, type TestStorageOptions } from './storage.ts';

export interface HandlerTestContext {
  ctx: OwnedContext;
  storage: TestStorage;
  close(): Promise<void>;
}

/** The storage settings of a context on `storage` (`extra` overrides, e.g. a Redis of its own for tokens). */
function storageConfigOf(storage: TestStorage, extra: Partial<StorageConfig> = {}): StorageConfig {
  return {
    mysqlUrl: storage.mysqlUrl,
    redisUrl: storage.redisUrl,
    redisKeyPrefix: storage.keyPrefix,
    shards: storage.shards,
    shardMap: '',
    mysqlConnections: 4,
    mysqlQueueLimit: 1000,
    connectTimeoutMs: 2000,
    queryTimeoutMs: 5000,
    redisCommandTimeoutMs: 2000,
    logLevel: 'silent',
    ...extra,
  };
}

/** The test Redis on another db number (a Redis "of its own" for split-Redis tests), and a client of it with the test's prefix. */
export function redisOnDb(storage: TestStorage, db: number): { url: string; redis: Redis } {
  const url = new URL(storage.redisUrl);
  url.pathname = `/${db}`;
  return { url: url.toString(), redis: new Redis(url.toString(), { keyPrefix: storage.keyPrefix }) };
}

/** Another context on the same test storage, with `extra` settings; ready when it resolves. */
export async function extraContext(storage: TestStorage, extra: Partial<StorageConfig>): Promise<OwnedContext> {
  const ctx = createContext(storageConfigOf(storage, extra), pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  await whenRedisReady(ctx, 2000);
  return ctx;
}

export async function createHandlerContext(opts: TestStorageOptions = {}): Promise<HandlerTestContext> {
  const storage = await createTestStorage(opts);
  const ctx = createContext(storageConfigOf(storage), pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  await whenRedisReady(ctx, 2000);
  return {
    ctx,
    storage,
    async close() {
      await ctx.close();
      await storage.cleanup();
    },
  };
}

/**
 * Gives a test file one context for all its tests: opened before the first,
 * closed after the last; `use` receives it once it is open.
 */
export function withHandlerContext(use: (h: HandlerTestContext) => void): void {
  let h: HandlerTestContext | undefined;
  before(async () => {
    h = await createHandlerContext();
    use(h);
  });
  after(() => h?.close());
}
