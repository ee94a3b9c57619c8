import type { HandlerContext } from './types.ts';
import { maxStoredMsgId, type IdRequest } from './msg-ids.ts';

/** IMSessionRead.type (as IMRecentSession.type). */
export const ReadType = { SINGLE: 1, GROUP: 2 } as const;

/** One read position: `userId` has read `peerId`'s session up to `msgId`. */
export interface ReadPosition {
  userId: number;
  peerId: number;
  type: 1 | 2;
  msgId: number;
}

/**
 * Writes read positions to IMSessionRead (schema/005_session_read.sql), the
 * MySQL copy of what the unread counters in Redis say, from which they are
 * rebuilt after Redis lost its data. One upsert per call, rows in key order
 * (concurrent batches lock in the same order); positions only move forward.
 */
export async function saveReadPositions(ctx: HandlerContext, positions: readonly ReadPosition[]): Promise<void> {
  const byKey = new Map<string, ReadPosition>();
  for (const p of positions) {
    const key = `${p.userId}:${p.peerId}:${p.type}`;
    const prev = byKey.get(key);
    if (!prev || prev.msgId < p.msgId) byKey.set(key, p);
  }
  if (byKey.size === 0) return;
  const list = [...byKey.values()].sort((a, b) => a.userId - b.userId || a.peerId - b.peerId || a.type - b.type);
  const now = ctx.now();
  await ctx.mysql.query(
    ctx.mysql.main,
    `INSERT INTO IMSessionRead (userId, peerId, type, msgId, updated) VALUES ${list.map(() => '(?, ?, ?, ?, ?)').join(', ')}
      ON DUPLICATE KEY UPDATE msgId = GREATEST(msgId, VALUES(msgId)), updated = VALUES(updated)`,
    list.flatMap((p) => [p.userId, p.peerId, p.type, p.msgId, now]),
  );
}

/**
 * The latest msg id handed out in each conversation: the Redis counter, or
 * (when Redis lost it) the largest msg id stored in MySQL.
 */
export async function latestIds(ctx: HandlerContext, convs: readonly IdRequest[]): Promise<number[]> {
  if (convs.length === 0) return [];
  const keys = convs.map((c) => (c.kind === 'single' ? `msg_id_${c.id}` : `group_msg_id_${c.id}`));
  const values = await ctx.redis.mget(keys);
  return Promise.all(convs.map(async (c, i) => (values[i] ? Number(values[i]) : maxStoredMsgId(ctx, c))));
}

/**
 * Users who join a group have read everything sent there so far (their read
 * counter is set to the group total, TeamTalk's rule): their positions move
 * to the group's latest msg id. Failures are logged: the join stands.
 */
export async function recordGroupJoin(ctx: HandlerContext, groupId: number, userIds: readonly number[]): Promise<void> {
  if (userIds.length === 0) return;
  try {
    const [latest] = await latestIds(ctx, [{ kind: 'group', id: groupId, count: 0 }]);
    await saveReadPositions(ctx, userIds.map((userId) => ({ userId, peerId: groupId, type: ReadType.GROUP, msgId: latest ?? 0 })));
  } catch (err) {
    ctx.log.warn({ err, groupId }, 'read positions of new group members not saved');
  }
}
