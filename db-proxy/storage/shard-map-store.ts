/**
 * The shard map's control tables in the main database (schema/006_shard_map.sql):
 * the versions of the map, the write freezes that change it, and the
 * heartbeats of the db-proxies that follow it. Used by db-proxy (to follow)
 * and by `npm run shards` (to change). Times are the database's (NOW(3)), so
 * the clocks of the machines involved do not matter.
 */
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { ErrorCode, ImError } from '../../common/errors.ts';
import { mapText, parseShardMap, samePlacement, type ShardMap } from './shard-map.ts';

type Queryable = Pool | PoolConnection;

/** A freeze as the control table has it. */
export interface Freeze {
  id: number;
  shards: number[];
  /** The map version in force when it began. */
  mapVersion: number;
  state: 'freezing' | 'flipped' | 'released' | 'expired';
  /** What is left of it (database clock); <= 0 once it ran out. */
  expiresInMs: number;
}

/** A running db-proxy as its heartbeat has it. */
export interface Instance {
  id: string;
  mapVersion: number;
  frozenId: number;
  seenAgoMs: number;
}

function missingTables(err: unknown): ImError | null {
  // Straight from mysql2, or wrapped by storage/mysql.ts (the control-table readers' bounded pool).
  const codes = [(err as { code?: string }).code, (err as { cause?: { code?: string } }).cause?.code];
  if (!codes.includes('ER_NO_SUCH_TABLE') && !codes.includes('ER_BAD_FIELD_ERROR')) return null;
  return new ImError(ErrorCode.BAD_CONFIG, 'the main database lacks the shard map tables of this version (006-008): run `npm run migrate`', { cause: err });
}

async function rows(q: Queryable, sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
  try {
    const [out] = await q.query<RowDataPacket[]>(sql, values);
    return out;
  } catch (err) {
    throw missingTables(err) ?? err;
  }
}

/** Version `version` of the map (`mainUrl` holds the unsharded tables); throws when there is none. */
export async function mapAt(q: Queryable, mainUrl: string, version: number): Promise<ShardMap> {
  const [row] = await rows(q, 'SELECT version, shards, servers FROM shard_map WHERE version = ?', [version]);
  if (!row) throw new ImError(ErrorCode.STORAGE, `shard map version ${version} is not stored`);
  return parseShardMap(mainUrl, Number(row.shards), String(row.servers), Number(row.version));
}

/** The highest stored version, 0 when none is. */
export async function latestVersion(q: Queryable): Promise<number> {
  const [row] = await rows(q, 'SELECT COALESCE(MAX(version), 0) AS v FROM shard_map');
  return Number(row?.v ?? 0);
}

/** The map in force, or null when none is stored. */
export async function currentMap(q: Queryable, mainUrl: string): Promise<ShardMap | null> {
  const v = await latestVersion(q);
  return v === 0 ? null : mapAt(q, mainUrl, v);
}

/** The map in force; `seed` becomes version 1 when none is stored (the first db-proxy to start wins a race). */
export async function seedMap(q: Queryable, seed: ShardMap): Promise<ShardMap> {
  const found = await currentMap(q, seed.mainUrl);
  if (found) return found;
  await rows(q, "INSERT IGNORE INTO shard_map (version, shards, servers, note) VALUES (1, ?, ?, 'seeded from SHARDS and SHARD_MAP')", [
    seed.shards,
    mapText(seed),
  ]);
  return (await currentMap(q, seed.mainUrl))!;
}

function freezeOf(row: RowDataPacket): Freeze {
  return {
    id: Number(row.id),
    shards: String(row.shards).split(',').filter(Boolean).map(Number),
    mapVersion: Number(row.map_version),
    state: String(row.state) as Freeze['state'],
    expiresInMs: Number(row.left_ms),
  };
}

const FREEZE_COLUMNS = 'id, shards, map_version, state, TIMESTAMPDIFF(MICROSECOND, NOW(3), expires_at) DIV 1000 AS left_ms';

/** The newest freeze still 'freezing' (also when its time ran out), or null. */
export async function pendingFreeze(q: Queryable): Promise<Freeze | null> {
  const [row] = await rows(q, `SELECT ${FREEZE_COLUMNS} FROM shard_freeze WHERE state = 'freezing' ORDER BY id DESC LIMIT 1`);
  return row ? freezeOf(row) : null;
}

export async function freezeById(q: Queryable, id: number): Promise<Freeze | null> {
  const [row] = await rows(q, `SELECT ${FREEZE_COLUMNS} FROM shard_freeze WHERE id = ?`, [id]);
  return row ? freezeOf(row) : null;
}

/** Ends freeze `id` as 'expired' if its time ran out and nobody flipped it; true when this call ended it. */
export async function expireFreeze(q: Queryable, id: number): Promise<boolean> {
  const [res] = await q.query(
    "UPDATE shard_freeze SET state = 'expired', ended_at = NOW(3) WHERE id = ? AND state = 'freezing' AND expires_at <= NOW(3)",
    [id],
  );
  return (res as { affectedRows: number }).affectedRows === 1;
}

/** What a db-proxy's heartbeat says besides "alive". */
export interface Beat {
  mapVersion: number;
  /** The freeze it holds (0: none). */
  frozenId: number;
  leaseMs: number;
  txnMs: number;
}

/** A db-proxy's heartbeat: alive, on a map version, holding a freeze or not, and its bounds. */
export async function heartbeat(q: Queryable, instanceId: string, beat: Beat): Promise<void> {
  await rows(
    q,
    `INSERT INTO db_proxy_instances (id, map_version, frozen_id, lease_ms, txn_ms, seen_at) VALUES (?, ?, ?, ?, ?, NOW(3))
     ON DUPLICATE KEY UPDATE map_version = VALUES(map_version), frozen_id = VALUES(frozen_id), lease_ms = VALUES(lease_ms),
       txn_ms = VALUES(txn_ms), seen_at = NOW(3)`,
    [instanceId, beat.mapVersion, beat.frozenId, beat.leaseMs, beat.txnMs],
  );
}

export async function deregister(q: Queryable, instanceId: string): Promise<void> {
  await q.query('DELETE FROM db_proxy_instances WHERE id = ?', [instanceId]);
}

/** How long after its last heartbeat a db-proxy may still write: its lease, and a margin for the heartbeat's own delay. */
const LIVE_MARGIN_MS = 2000;

/**
 * SQL condition: the db-proxy may still be writing. Seen within `?` ms (the
 * caller's window), or within its own lease and a margin, whichever is longer.
 */
const LIVE = `TIMESTAMPDIFF(MICROSECOND, seen_at, NOW(3)) <= GREATEST(?, lease_ms + ${LIVE_MARGIN_MS}) * 1000`;

/** db-proxies that may still be writing: seen within `withinMs`, or within their own lease. */
export async function liveInstances(q: Queryable, withinMs: number): Promise<(Instance & { txnMs: number })[]> {
  const found = await rows(
    q,
    `SELECT id, map_version, frozen_id, txn_ms, TIMESTAMPDIFF(MICROSECOND, seen_at, NOW(3)) DIV 1000 AS ago_ms
     FROM db_proxy_instances WHERE ${LIVE} ORDER BY id`,
    [withinMs],
  );
  return found.map((r) => ({
    id: String(r.id),
    mapVersion: Number(r.map_version),
    frozenId: Number(r.frozen_id),
    seenAgoMs: Number(r.ago_ms),
    txnMs: Number(r.txn_ms),
  }));
}

/** Asks every db-proxy to freeze writes to `shards` for at most `maxMs`; refused while another freeze is pending. */
export async function beginFreeze(q: Queryable, shards: readonly number[], maxMs: number): Promise<Freeze> {
  const pending = await pendingFreeze(q);
  if (pending && pending.expiresInMs > 0) {
    throw new ImError(ErrorCode.STORAGE, `freeze ${pending.id} of shards ${pending.shards.join(',')} is still pending`);
  }
  if (pending) await expireFreeze(q, pending.id);
  const version = await latestVersion(q);
  const [res] = await q.query(
    "INSERT INTO shard_freeze (shards, map_version, state, expires_at) VALUES (?, ?, 'freezing', NOW(3) + INTERVAL ? MICROSECOND)",
    [shards.join(','), version, maxMs * 1000],
  );
  return (await freezeById(q, (res as { insertId: number }).insertId))!;
}

/**
 * Waits until every db-proxy seen within `liveMs` holds freeze `id`;
 * returns them, or throws when the freeze ended or `timeoutMs` passed.
 */
export async function waitFrozen(q: Queryable, id: number, opts: { liveMs: number; timeoutMs: number; pollMs?: number }): Promise<Instance[]> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const f = await freezeById(q, id);
    if (!f || f.state !== 'freezing' || f.expiresInMs <= 0) throw new ImError(ErrorCode.TIMEOUT, `freeze ${id} ended before every db-proxy held it`);
    const live = await liveInstances(q, opts.liveMs);
    const waiting = live.filter((i) => i.frozenId !== id);
    if (waiting.length === 0) return live;
    if (Date.now() >= deadline) {
      throw new ImError(ErrorCode.TIMEOUT, `db-proxies ${waiting.map((i) => i.id).join(', ')} did not freeze within ${opts.timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 20));
  }
}

/**
 * Puts `next` in force as the version after `baseVersion` and ends freeze
 * `id` as 'flipped' (and job `jobId` with it), in one transaction, provided
 * the freeze is still pending with at least `marginMs` left, the map is
 * still `baseVersion`, and every db-proxy that may still be writing (seen
 * within `liveMs` or its lease) holds the freeze. Returns the map as stored.
 */
export async function flip(
  pool: Pool,
  change: { freezeId: number; baseVersion: number; next: ShardMap; note: string; marginMs: number; liveMs: number; jobId?: number },
): Promise<ShardMap> {
  const text = mapText(change.next);
  const again = parseShardMap(change.next.mainUrl, change.next.shards, text);
  if (!samePlacement(again, change.next)) throw new ImError(ErrorCode.BAD_CONFIG, 'the new shard map does not survive its text form (a URL with ";"?): not stored');
  const conn = await pool.getConnection();
  try {
    await conn.query('START TRANSACTION');
    const [row] = await rows(conn, `SELECT ${FREEZE_COLUMNS} FROM shard_freeze WHERE id = ? FOR UPDATE`, [change.freezeId]);
    const f = row ? freezeOf(row) : null;
    const refuse = async (why: string): Promise<never> => {
      await conn.query('ROLLBACK');
      throw new ImError(ErrorCode.TIMEOUT, `${why}: the map was not changed`);
    };
    if (!f || f.state !== 'freezing' || f.expiresInMs < change.marginMs) {
      await refuse(`freeze ${change.freezeId} is ${f ? `${f.state} with ${f.expiresInMs} ms left` : 'gone'}`);
    }
    const [v] = await rows(conn, 'SELECT COALESCE(MAX(version), 0) AS v FROM shard_map FOR UPDATE');
    const latest = Number(v?.v ?? 0);
    if (latest !== change.baseVersion) await refuse(`the map is at version ${latest}, not ${change.baseVersion}`);
    const [loose] = await rows(conn, `SELECT id FROM db_proxy_instances WHERE ${LIVE} AND frozen_id <> ?`, [change.liveMs, change.freezeId]);
    if (loose) await refuse(`db-proxy ${String(loose.id)} does not hold freeze ${change.freezeId}`);
    const version = latest + 1;
    await conn.query('INSERT INTO shard_map (version, shards, servers, note) VALUES (?, ?, ?, ?)', [version, change.next.shards, text, change.note.slice(0, 255)]);
    await conn.query("UPDATE shard_freeze SET state = 'flipped', ended_at = NOW(3) WHERE id = ?", [change.freezeId]);
    if (change.jobId !== undefined) await conn.query("UPDATE shard_jobs SET state = 'flipped' WHERE id = ?", [change.jobId]);
    await conn.query('COMMIT');
    return parseShardMap(change.next.mainUrl, change.next.shards, text, version);
  } catch (err) {
    await conn.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    conn.release();
  }
}

/** Ends freeze `id` without a change. */
export async function releaseFreeze(q: Queryable, id: number): Promise<void> {
  await q.query("UPDATE shard_freeze SET state = 'released', ended_at = NOW(3) WHERE id = ? AND state = 'freezing'", [id]);
}
