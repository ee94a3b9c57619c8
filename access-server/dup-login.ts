/**
 * Who owns a user's login, per client class: `login_owner_{uid}_{class}` in
 * Redis holds `{serverId}:{connId}` of the connection that logged in last.
 * A new login swaps itself in atomically and gets the previous owner back
 * (to kick); a closing connection deletes the key only while it still names
 * that connection. Two logins racing on two servers thus leave one session.
 *
 * Every key carries a TTL, set in the same script that writes it, and the
 * owning server refreshes the keys of its live sessions (`refresh`, batched):
 * a crashed server's claims expire, and after Redis lost its data the live
 * sessions claim their keys again, so a later duplicate login is kicked.
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
  /**
   * Keeps each claim alive: extends its TTL, claims it again when the key is
   * gone; resolves with the claims some other owner holds now (their
   * sessions were superseded).
   */
  refresh(claims: readonly OwnerClaim[]): Promise<Superseded[]>;
  /**
   * Whether the keys of `serverId` can still be trusted: `markLive` leaves a
   * marker beside them (with the claims' TTL); a Redis that lost its data
   * has lost the marker too, and the caller re-claims at once instead of
   * waiting for its next refresh.
   */
  isLive(serverId: string): Promise<boolean>;
  markLive(serverId: string): Promise<void>;
  close(): Promise<void>;
}

export interface OwnerClaim {
  uid: number;
  cls: ClientClass;
  owner: string;
}

export interface Superseded extends OwnerClaim {
  /** Who holds the key now. */
  by: string;
}

/** Keys refreshed per pipeline. */
const REFRESH_BATCH = 1000;

export function ownerKey(uid: number, cls: ClientClass): string {
  return `login_owner_${uid}_${cls}`;
}

/** Ours, not TeamTalk's: present while `serverId`'s claims are known to be in Redis. */
export function ownerMarkerKey(serverId: string): string {
  return `login_owner_marker_${serverId}`;
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
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return prev`;

/** 0: extended; 1: claimed again (the key was gone); otherwise the other owner. */
const REFRESH = `local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 0
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return cur`;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

type OwnerRedis = Redis & {
  loginOwnerSwap(key: string, owner: string, ttlMs: number): Promise<string | null>;
  loginOwnerRelease(key: string, owner: string): Promise<number>;
  loginOwnerRefresh(key: string, owner: string, ttlMs: number): Promise<number | string>;
};

export interface RedisOwnerOptions {
  url: string;
  keyPrefix: string;
  /** Lifetime of a claim that is not refreshed. */
  ttlMs: number;
  timeoutMs?: number;
}

/** Owners in Redis: the cluster-wide decision. */
export async function redisLoginOwners(opts: RedisOwnerOptions): Promise<LoginOwners> {
  const { url, keyPrefix, ttlMs, timeoutMs = 2000 } = opts;
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
  redis.defineCommand('loginOwnerRefresh', { numberOfKeys: 1, lua: REFRESH });
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
    swap: (uid, cls, owner) => wrap(redis.loginOwnerSwap(ownerKey(uid, cls), owner, ttlMs)),
    release: async (uid, cls, owner) => {
      await wrap(redis.loginOwnerRelease(ownerKey(uid, cls), owner));
    },
    get: (uid, cls) => wrap(redis.get(ownerKey(uid, cls))),
    refresh: async (claims) => {
      const out: Superseded[] = [];
      for (let i = 0; i < claims.length; i += REFRESH_BATCH) {
        const chunk = claims.slice(i, i + REFRESH_BATCH);
        const pipe = redis.pipeline() as unknown as OwnerRedis;
        for (const c of chunk) void pipe.loginOwnerRefresh(ownerKey(c.uid, c.cls), c.owner, ttlMs);
        const results = await wrap((pipe as unknown as ReturnType<Redis['pipeline']>).exec());
        results?.forEach(([err, v], j) => {
          if (err) throw new ImError(ErrorCode.STORAGE, `login owner refresh failed: ${err.message}`, { cause: err });
          if (typeof v === 'string') out.push({ ...chunk[j]!, by: v });
        });
      }
      return out;
    },
    isLive: async (serverId) => (await wrap(redis.exists(ownerMarkerKey(serverId)))) === 1,
    markLive: async (serverId) => {
      await wrap(redis.set(ownerMarkerKey(serverId), '1', 'PX', ttlMs));
    },
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
    refresh: async (claims) => {
      const out: Superseded[] = [];
      for (const c of claims) {
        const cur = owners.get(ownerKey(c.uid, c.cls));
        if (cur === undefined) owners.set(ownerKey(c.uid, c.cls), c.owner);
        else if (cur !== c.owner) out.push({ ...c, by: cur });
      }
      return out;
    },
    isLive: async () => true,
    markLive: async () => {},
    close: async () => {},
  };
}
