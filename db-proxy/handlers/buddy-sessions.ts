import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { previewData } from './message-audio.ts';
import { findRelationId } from './relations.ts';
import { perRequest, type HandlerContext } from './types.ts';
import { rebuildMarkKey } from './unread-counters.ts';
import { markGroupRead, withMarkRead } from './group-members.ts';
import { latestIds, ReadType, saveReadPositions } from './session-read.ts';

type RecentReq = IM.Buddy.IIMRecentContactSessionReq;
type RemoveReq = IM.Buddy.IIMRemoveSessionReq;

const SESSION_SINGLE = 1;
const SESSION_GROUP = 2;
/** TeamTalk answers at most this many sessions, newest first. */
const MAX_SESSIONS = 100;
const MSG_TYPES = new Set([0x01, 0x02, 0x11, 0x12]);

interface SessionRow {
  peerId: number;
  type: number;
  updated: number;
}

interface Latest {
  convId: number;
  msgId: number;
  fromId: number;
  type: number;
  content: string | Buffer | null;
}

/**
 * CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST: the user's shown sessions
 * updated after latest_update_time, newest first (at most 100), each with
 * its conversation's latest live message. A session without one (no
 * relation, no message yet) is left out, as TeamTalk does.
 */
export const recentSessions = perRequest<RecentReq>(
  Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST,
  async (ctx, req) => {
    const userId = req.userId!;
    const rows = await ctx.mysql.query<SessionRow[]>(
      ctx.mysql.main,
      `SELECT peerId, type, updated FROM IMRecentSession
        WHERE userId = ? AND status = 0 AND updated > ? AND type IN (?, ?) ORDER BY updated DESC, id DESC LIMIT ?`,
      [userId, req.latestUpdateTime ?? 0, SESSION_SINGLE, SESSION_GROUP, MAX_SESSIONS],
    );
    const convIds = await Promise.all(rows.map((r) => (r.type === SESSION_GROUP ? r.peerId : findRelationId(ctx, userId, r.peerId))));
    const latest = await latestMessages(ctx, rows.map((r, i) => ({ group: r.type === SESSION_GROUP, convId: convIds[i]! })));
    const list: IM.BaseDefine.IContactSessionInfo[] = [];
    rows.forEach((r, i) => {
      const m = latest.get(`${r.type === SESSION_GROUP ? 'g' : 's'}${convIds[i]}`);
      if (!m || !MSG_TYPES.has(m.type)) return;
      list.push({
        sessionId: r.peerId,
        sessionType: r.type,
        sessionStatus: 0,
        updatedTime: r.updated,
        latestMsgId: m.msgId,
        latestMsgData: previewData(m.type, m.content),
        latestMsgType: m.type,
        latestMsgFromUserId: m.fromId,
      });
    });
    return { commandId: Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE, message: { userId, contactSessionList: list } };
  },
  (req) => ({ commandId: Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE, message: { userId: req.userId ?? 0, contactSessionList: [] } }),
);

/**
 * The latest live message of each conversation, keyed `s{relateId}` /
 * `g{groupId}`: one greatest-msgId-per-conversation query per shard table.
 */
async function latestMessages(ctx: HandlerContext, convs: { group: boolean; convId: number }[]): Promise<Map<string, Latest>> {
  const byTable = new Map<string, { group: boolean; shard: number; ids: number[] }>();
  for (const c of convs) {
    if (!c.convId) continue;
    const shard = c.convId % ctx.shards;
    const key = `${c.group ? 'g' : 's'}${shard}`;
    let t = byTable.get(key);
    if (!t) byTable.set(key, (t = { group: c.group, shard, ids: [] }));
    t.ids.push(c.convId);
  }
  const out = new Map<string, Latest>();
  await Promise.all(
    [...byTable.values()].map(async (t) => {
      const [table, conv, from] = t.group ? [`IMGroupMessage_${t.shard}`, 'groupId', 'userId'] : [`IMMessage_${t.shard}`, 'relateId', 'fromId'];
      const rows = await ctx.mysql.query<Latest[]>(
        ctx.mysql.shard(t.shard),
        `SELECT m.${conv} AS convId, m.msgId, m.${from} AS fromId, m.type, m.content FROM ${table} m
           JOIN (SELECT ${conv} AS c, MAX(msgId) AS msgId FROM ${table} WHERE ${conv} IN (?) AND status = 0 GROUP BY ${conv}) t
             ON m.${conv} = t.c AND m.msgId = t.msgId`,
        [t.ids],
      );
      for (const r of rows) out.set(`${t.group ? 'g' : 's'}${r.convId}`, r);
    }),
  );
  return out;
}

/**
 * CID_BUDDY_LIST_REMOVE_SESSION_REQ: hides a shown session (status 1) and
 * marks the conversation read: `unread_{userId}` loses the peer's field; for
 * a group the member's read snapshot `{userId}_{groupId}_im_user_group`
 * becomes a copy of the group total `{groupId}_im_group_msg`. Result 0 when
 * a shown session was removed, 1 otherwise.
 */
export const removeSession = perRequest<RemoveReq>(
  Cid.CID_BUDDY_LIST_REMOVE_SESSION_REQ,
  async (ctx, req) => {
    const { userId, sessionId, sessionType } = req as Required<RemoveReq>;
    const res = await ctx.mysql.query<{ affectedRows: number }>(
      ctx.mysql.main,
      'UPDATE IMRecentSession SET status = 1, updated = ? WHERE userId = ? AND peerId = ? AND type = ? AND status = 0',
      [ctx.now(), userId, sessionId, sessionType],
    );
    const removed = res.affectedRows > 0;
    if (removed) await clearUnread(ctx, userId, sessionId, sessionType);
    return removeAnswer(req, removed ? 0 : 1);
  },
  (req) => removeAnswer(req, 1),
);

function removeAnswer(req: RemoveReq, resultCode: number) {
  return {
    commandId: Cid.CID_BUDDY_LIST_REMOVE_SESSION_RES,
    message: { userId: req.userId ?? 0, resultCode, sessionType: req.sessionType ?? SESSION_SINGLE, sessionId: req.sessionId ?? 0 },
  };
}

/**
 * The counter is cleared as a read ack clears it, and the read position in
 * IMSessionRead moves to the conversation's latest msg id, so a rebuild
 * after a Redis loss does not bring the removed session's messages back.
 */
async function clearUnread(ctx: HandlerContext, userId: number, peerId: number, type: number): Promise<void> {
  try {
    const single = type === SESSION_SINGLE;
    const convId = single ? await findRelationId(ctx, userId, peerId) : peerId;
    const [latest] = convId > 0 ? await latestIds(ctx, [{ kind: single ? 'single' : 'group', id: convId, count: 0 }]) : [0];
    if (single) {
      await ctx.redis.pipeline().hdel(`unread_${userId}`, String(peerId)).hdel(rebuildMarkKey(userId), String(peerId)).exec();
    } else {
      const pipe = withMarkRead(ctx.redis).pipeline();
      markGroupRead(pipe, peerId, [userId]);
      await pipe.exec();
    }
    if (latest) await saveReadPositions(ctx, [{ userId, peerId, type: single ? ReadType.SINGLE : ReadType.GROUP, msgId: latest }]);
  } catch (err) {
    // The session is hidden already; a stale counter only shows as unread again.
    ctx.log.warn({ err, userId, peerId, type }, 'unread counter not cleared for a removed session');
  }
}
