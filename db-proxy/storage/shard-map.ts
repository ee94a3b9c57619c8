import { ErrorCode, ImError } from '../../common/errors.ts';

/**
 * Which MySQL server holds which shard tables. Shard k means the tables
 * IMMessage_k and IMGroupMessage_k. Unsharded tables (IMUser, IMGroup, ...)
 * live on the main server.
 *
 * Text form (env SHARD_MAP): `0-3=mysql://a/db;4-7=mysql://b/db`. Shards not
 * named fall back to the main server.
 */
export interface ShardMap {
  /** Version in shard_map (0: read from the environment, not stored). */
  readonly version: number;
  readonly shards: number;
  readonly mainUrl: string;
  /** One URL per shard index. */
  readonly shardUrls: readonly string[];
}

export function parseShardMap(mainUrl: string, shards: number, text = '', version = 0): ShardMap {
  const urls: string[] = new Array<string>(shards).fill(mainUrl);
  const seen = new Set<number>();
  for (const part of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const range = eq > 0 ? part.slice(0, eq).trim() : '';
    const url = eq > 0 ? part.slice(eq + 1).trim() : '';
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!m || !/^(mysql|mariadb):\/\//.test(url)) {
      throw new ImError(ErrorCode.BAD_CONFIG, `SHARD_MAP: "${part}" is not "<from>-<to>=mysql://..."`);
    }
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > to || to >= shards) {
      throw new ImError(ErrorCode.BAD_CONFIG, `SHARD_MAP: range ${range} is outside 0-${shards - 1}`);
    }
    for (let k = from; k <= to; k++) {
      if (seen.has(k)) throw new ImError(ErrorCode.BAD_CONFIG, `SHARD_MAP: shard ${k} is named twice`);
      seen.add(k);
      urls[k] = url;
    }
  }
  return Object.freeze({ version, shards, mainUrl, shardUrls: Object.freeze(urls) });
}

/**
 * The map's text form, ranges merged: what shard_map.servers stores. Shards
 * on the main server are not named (they follow MYSQL_URL, wherever it
 * points), so the text of a map with every shard on the main server is empty.
 */
export function mapText(map: ShardMap): string {
  const parts: string[] = [];
  for (let k = 0; k < map.shards; ) {
    let j = k;
    while (j + 1 < map.shards && map.shardUrls[j + 1] === map.shardUrls[k]) j++;
    if (map.shardUrls[k] !== map.mainUrl) parts.push(`${k === j ? k : `${k}-${j}`}=${map.shardUrls[k]}`);
    k = j + 1;
  }
  return parts.join(';');
}

/** Whether two maps place every shard on the same server. */
export function samePlacement(a: ShardMap, b: ShardMap): boolean {
  return a.shards === b.shards && a.mainUrl === b.mainUrl && a.shardUrls.every((u, k) => u === b.shardUrls[k]);
}

/** One server of a map and the shards it holds (ascending). */
export interface ShardHost {
  url: string;
  shards: readonly number[];
}

/** Every server of the map, the main one first (it may hold no shard), each with its shards. */
export function hostsOf(map: ShardMap): ShardHost[] {
  const byUrl = new Map<string, number[]>([[map.mainUrl, []]]);
  map.shardUrls.forEach((url, k) => {
    const list = byUrl.get(url);
    if (list) list.push(k);
    else byUrl.set(url, [k]);
  });
  return [...byUrl].map(([url, shards]) => ({ url, shards }));
}

/** A URL fit for logs and messages: the password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/** Shard indexes as ranges: [0, 1, 2, 5] is "0-2,5". */
export function formatRanges(indexes: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < indexes.length; ) {
    let j = i;
    while (j + 1 < indexes.length && indexes[j + 1] === indexes[j]! + 1) j++;
    out.push(i === j ? `${indexes[i]}` : `${indexes[i]}-${indexes[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

export function messageTable(relateId: number, shards: number): { shard: number; table: string } {
  const shard = relateId % shards;
  return { shard, table: `IMMessage_${shard}` };
}

export function groupMessageTable(groupId: number, shards: number): { shard: number; table: string } {
  const shard = groupId % shards;
  return { shard, table: `IMGroupMessage_${shard}` };
}
