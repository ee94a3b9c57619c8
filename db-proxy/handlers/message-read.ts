import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { markGroupRead, withMarkRead } from './group-members.ts';
import { SessionType, latestMsgId, msgById, msgList } from './message-history.ts';
import { unreadCount } from './message-unread.ts';
import type { Handler } from './types.ts';

type ReadAck = IM.Message.IIMMsgDataReadAck;

/**
 * CID_MSG_READ_ACK: the user has read everything in the session.
 * One-to-one: HDEL `unread_{userId}` field `{peerId}`. Group: the user's
 * read count `{userId}_{groupId}_im_user_group` becomes the group total
 * `{groupId}_im_group_msg`. The whole batch is one Redis pipeline.
 * TeamTalk's db proxy sends nothing back for a read ack, so neither do we
 * (the access server tells the user's other devices itself).
 */
export const readAck: Handler<ReadAck> = {
  commandId: Cid.CID_MSG_READ_ACK,
  fail: () => null,
  async run(ctx, reqs) {
    const pipe = withMarkRead(ctx.redis).pipeline();
    let queued = 0;
    for (const r of reqs) {
      if (!r.userId || !r.sessionId) continue;
      if (r.sessionType === SessionType.SINGLE) pipe.hdel(`unread_${r.userId}`, String(r.sessionId));
      else if (r.sessionType === SessionType.GROUP) markGroupRead(pipe, r.sessionId, [r.userId]);
      else continue;
      queued++;
    }
    if (queued > 0) {
      const results = await pipe.exec();
      const failed = results?.filter(([err]) => err) ?? [];
      if (failed.length > 0) ctx.log.warn({ err: failed[0]![0], failed: failed.length }, 'read ack not applied');
    }
    return reqs.map(() => null);
  },
};

/** The message read side: history, unread counts, read acks. */
export const handlers: Handler<never>[] = [msgList, msgById, latestMsgId, unreadCount, readAck].map((h) => h as unknown as Handler<never>);
