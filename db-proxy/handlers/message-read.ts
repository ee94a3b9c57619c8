import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { markGroupRead, withMarkRead } from './group-members.ts';
import { SessionType, latestMsgId, msgById, msgList } from './message-history.ts';
import { unreadCount } from './message-unread.ts';
import type { IdRequest } from './msg-ids.ts';
import { findRelationIds, pairKey } from './relations.ts';
import { latestIds, ReadType, saveReadPositions, type ReadPosition } from './session-read.ts';
import type { Handler, HandlerContext } from './types.ts';
import { rebuildMarkKey } from './unread-counters.ts';

type ReadAck = IM.Message.IIMMsgDataReadAck;

/**
 * CID_MSG_READ_ACK: the user has read everything in the session.
 * One-to-one: HDEL `unread_{userId}` field `{peerId}`. Group: the user's
 * read count `{userId}_{groupId}_im_user_group` becomes the group total
 * `{groupId}_im_group_msg`. The whole batch is one Redis pipeline, which
 * also reads each session's latest msg id; that position (or the client's
 * msg id, when higher) goes to IMSessionRead in the same request, so the
 * counters can be rebuilt from MySQL (session-read.ts).
 * TeamTalk's db proxy sends nothing back for a read ack, so neither do we
 * (the access server tells the user's other devices itself).
 */
export const readAck: Handler<ReadAck> = {
  commandId: Cid.CID_MSG_READ_ACK,
  fail: () => null,
  async run(ctx, reqs) {
    const valid = reqs.filter(
      (r) => r.userId && r.sessionId && (r.sessionType === SessionType.SINGLE || r.sessionType === SessionType.GROUP),
    );
    if (valid.length === 0) return reqs.map(() => null);
    const singles = valid.filter((r) => r.sessionType === SessionType.SINGLE);
    const relations = singles.length > 0 ? await findRelationIds(ctx, singles.map((r) => [r.userId, r.sessionId])) : new Map<string, number>();
    const pipe = withMarkRead(ctx.redis).pipeline();
    const counters: (IdRequest | null)[] = [];
    for (const r of valid) {
      const single = r.sessionType === SessionType.SINGLE;
      const convId = single ? (relations.get(pairKey(r.userId, r.sessionId)) ?? 0) : r.sessionId;
      // The counter is read before the count is cleared: a message counted in between stays unread in both.
      if (convId > 0) pipe.get(single ? `msg_id_${convId}` : `group_msg_id_${convId}`);
      counters.push(convId > 0 ? { kind: single ? 'single' : 'group', id: convId, count: 0 } : null);
      if (single) {
        pipe.hdel(`unread_${r.userId}`, String(r.sessionId));
        pipe.hdel(rebuildMarkKey(r.userId), String(r.sessionId)); // a rebuild under way leaves this counter as the ack left it
      } else markGroupRead(pipe, r.sessionId, [r.userId]);
    }
    const results = (await pipe.exec()) ?? [];
    const failed = results.filter(([err]) => err);
    if (failed.length > 0) ctx.log.warn({ err: failed[0]![0], failed: failed.length }, 'read ack not applied');
    await savePositions(ctx, valid, counters, results);
    return reqs.map(() => null);
  },
};

/** Each read ack's position: the session's latest msg id (Redis, else MySQL) or the client's, whichever is higher. */
async function savePositions(
  ctx: HandlerContext,
  acks: readonly ReadAck[],
  counters: readonly (IdRequest | null)[],
  results: [Error | null, unknown][],
): Promise<void> {
  const positions: ReadPosition[] = [];
  const lost: { at: number; conv: IdRequest }[] = [];
  let k = 0;
  acks.forEach((r, i) => {
    const conv = counters[i];
    let latest = 0;
    if (conv) {
      const [err, v] = results[k]!;
      k++;
      if (err || v === null) lost.push({ at: positions.length, conv });
      else latest = Number(v);
    }
    k += r.sessionType === SessionType.SINGLE ? 2 : 1; // the HDELs (counter and rebuild mark) or the mark-read
    const type = r.sessionType === SessionType.SINGLE ? ReadType.SINGLE : ReadType.GROUP;
    positions.push({ userId: r.userId!, peerId: r.sessionId!, type, msgId: Math.max(latest, r.msgId ?? 0) });
  });
  try {
    const ids = await latestIds(ctx, lost.map((l) => l.conv));
    lost.forEach((l, j) => (positions[l.at]!.msgId = Math.max(positions[l.at]!.msgId, ids[j]!)));
    await saveReadPositions(ctx, positions);
  } catch (err) {
    ctx.log.warn({ err, acks: acks.length }, 'read positions not saved');
  }
}

/** The message read side: history, unread counts, read acks. */
export const handlers: Handler<never>[] = [msgList, msgById, latestMsgId, unreadCount, readAck].map((h) => h as unknown as Handler<never>);
