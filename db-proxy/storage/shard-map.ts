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
  readonly shards: number;
  readonly mainUrl: string;
  /** One URL per shard index. */
  readonly shardUrls: readonly string[];
}

export function parseShardMap(mainUrl: string, shards: number, text = ''): ShardMap {
  const urls: string[] = new Array<string>(shards).fill(mainUrl);
  const seen = new Set<number>();
  for (const part of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const range = eq > 0 ? part.slice(0, eq).trim() : '';
    const url = eq > 0 ? part.slice(eq + 1).trim() : '';
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!m || !/^mysql:\/\//.test(url)) {
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
  return Object.freeze({ shards, mainUrl, shardUrls: Object.freeze(urls) });
}

export function messageTable(relateId: number, shards: number): { shard: number; table: string } {
  const shard = relateId % shards;
  return { shard, table: `IMMessage_${shard}` };
}

export function groupMessageTable(groupId: number, shards: number): { shard: number; table: string } {
  const shard = groupId % shards;
  return { shard, table: `IMGroupMessage_${shard}` };
}
