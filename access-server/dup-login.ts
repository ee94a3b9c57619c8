/**
 * Who owns a user's login, per client class: `login_owner_{uid}_{class}` in
 * Redis holds `{serverId}:{connId}` of the connection that logged in last.
 * A new login swaps itself in atomically and gets the previous owner back
 * (to kick); a closing connection deletes the key only while it still names
 * that connection. Two logins racing on two servers thus leave one session.
 */
import { Redis } from 'ioredis';
import { ErrorCode, ImError } from '../common/errors.ts';

export type ClientClass = 'pc' | 'mobile';

export interface LoginOwners {
  /** Makes `owner` the owner; resolves with the previous owner, or null. */
  swap(uid: number, cls: ClientClass, owner: string): Promise<string | null>;
  /** Deletes the key when it still names `owner`. */
  release(uid: number, cls: ClientClass, owner: string): Promise<void>;
  /** The current owner, or null. */
  get(uid: number, cls: ClientClass): Promise<string | null>;
  close(): Promise<void>;
}

export function ownerKey(uid: number, cls: ClientClass): string {
  return `login_owner_${uid}_${cls}`;
}

export function ownerOf(serverId: string, connId: number): string {
  return `${serverId}:${connId}`;
}

/** Splits `{serverId}:{connId}` at the last colon (a server id may hold colons). */
export function parseOwner(owner: string): { serverId: string; connId: number } | null {
  const i = owner.lastIndexOf(':');
  const connId = Number(owner.slice(i + 1));
  if (i <= 0 || !Number.isSafeInteger(connId) || connId <= 0) return null;
  return { serverId: owner.slice(0, i), connId };
}

const SWAP = `local prev = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
return prev`;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

type OwnerRedis = Redis & {
  loginOwnerSwap(key: string, owner: string): Promise<string | null>;
  loginOwnerRelease(key: string, owner: string): Promise<number>;
};

/** Owners in Redis: the cluster-wide decision. */
export async function redisLoginOwners(url: string, keyPrefix: string, timeoutMs = 2000): Promise<LoginOwners> {
  const redis = new Redis(url, {
    keyPrefix,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: timeoutMs,
    connectTimeout: timeoutMs,
  }) as OwnerRedis;
  redis.on('error', () => {}); // each command reports its own failure
  redis.defineCommand('loginOwnerSwap', { numberOfKeys: 1, lua: SWAP });
  redis.defineCommand('loginOwnerRelease', { numberOfKeys: 1, lua: RELEASE });
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new ImError(ErrorCode.STORAGE, `cannot reach Redis for login owners: ${(err as Error).message}`, { cause: err });
  }
  const wrap = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (err) {
      throw new ImError(ErrorCode.STORAGE, `login owner update failed: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    swap: (uid, cls, owner) => wrap(redis.loginOwnerSwap(ownerKey(uid, cls), owner)),
    release: async (uid, cls, owner) => {
      await wrap(redis.loginOwnerRelease(ownerKey(uid, cls), owner));
    },
    get: (uid, cls) => wrap(redis.get(ownerKey(uid, cls))),
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Owners in this process only: correct for a single access server (no REDIS_URL). */
export function memoryLoginOwners(): LoginOwners {
  const owners = new Map<string, string>();
  return {
    swap: async (uid, cls, owner) => {
      const key = ownerKey(uid, cls);
      const prev = owners.get(key) ?? null;
      owners.set(key, owner);
      return prev;
    },
    release: async (uid, cls, owner) => {
      const key = ownerKey(uid, cls);
      if (owners.get(key) === owner) owners.delete(key);
    },
    get: async (uid, cls) => owners.get(ownerKey(uid, cls)) ?? null,
    close: async () => {},
  };
}
