import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { distinctIds, memberJoinTime, placeholders } from './group-members.ts';
import { expandAudio } from './message-audio.ts';
import { findRelationId } from './relations.ts';
import { perRequest, type HandlerContext, type Reply } from './types.ts';

type ListReq = IM.Message.IIMGetMsgListReq;
type ByIdReq = IM.Message.IIMGetMsgByIdReq;
type LatestReq = IM.Message.IIMGetLatestMsgIdReq;

export const SessionType = { SINGLE: 1, GROUP: 2 } as const;
/** Most messages one list or by-id request returns (TeamTalk's by-id query stops at 100). */
export const MAX_MSGS_PER_REQUEST = 100;
/** MsgType values a client can decode; rows of any other type are skipped (TeamTalk does the same). */
export const VALID_MSG_TYPES: ReadonlySet<number> = new Set([0x01, 0x02, 0x11, 0x12]);

/**
 * Where a session's messages are, as the asking user may see them: the
 * shard table, the column that names the conversation and its value, the
 * sender column, and the earliest `created` visible (group members see
 * messages from their join time on). Null when the user has no such
 * conversation or is not a member of the group.
 */
interface Scope {
  table: string;
  shard: number;
  convCol: 'relateId' | 'groupId';
  fromCol: 'fromId' | 'userId';
  convId: number;
  since: number;
}

async function scopeOf(ctx: HandlerContext, userId: number, type: number, sessionId: number): Promise<Scope | null> {
  if (!userId || !sessionId) return null;
  if (type === SessionType.SINGLE) {
    const relateId = await findRelationId(ctx, userId, sessionId);
    if (!relateId) return null;
    const shard = relateId % ctx.shards;
    return { table: `IMMessage_${shard}`, shard, convCol: 'relateId', fromCol: 'fromId', convId: relateId, since: 0 };
  }
  if (type === SessionType.GROUP) {
    const joined = await memberJoinTime(ctx, sessionId, userId);
    if (joined === null) return null;
    const shard = sessionId % ctx.shards;
    return { table: `IMGroupMessage_${shard}`, shard, convCol: 'groupId', fromCol: 'userId', convId: sessionId, since: joined };
  }
  return null;
}

interface MsgRow {
  msgId: number;
  fromId: number;
  created: number;
  type: number;
  content: Buffer | string | null;
}

export function toBytes(content: Buffer | string | null): Buffer {
  if (content === null) return Buffer.alloc(0);
  return Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
}

function toMsgInfo(rows: readonly MsgRow[]): IM.BaseDefine.IMsgInfo[] {
  return rows
    .filter((r) => VALID_MSG_TYPES.has(r.type))
    .map((r) => ({ msgId: r.msgId, fromSessionId: r.fromId, createTime: r.created, msgType: r.type, msgData: toBytes(r.content) }));
}

/** Visible messages of a scope, newest first, filtered by `where` (on msgId); voice messages carry their audio. */
async function selectMsgs(ctx: HandlerContext, s: Scope, where: string, params: unknown[], limit: number): Promise<MsgRow[]> {
  // History may come from the shard server's replica while it is fresh (a bounded lag; else the server itself).
  const rows = await ctx.mysql.query<MsgRow[]>(
    ctx.mysql.shardRead(s.shard),
    `SELECT msgId, ${s.fromCol} AS fromId, created, type, content FROM ${s.table}
      WHERE ${s.convCol} = ? AND status = 0 AND created >= ? ${where} ORDER BY msgId DESC LIMIT ?`,
    [s.convId, s.since, ...params, limit],
  );
  return expandAudio(ctx, rows);
}

function listAnswer(req: ListReq, msgList: IM.BaseDefine.IMsgInfo[]): Reply {
  return {
    commandId: Cid.CID_MSG_LIST_RESPONSE,
    message: {
      userId: req.userId ?? 0,
      sessionType: req.sessionType || SessionType.SINGLE,
      sessionId: req.sessionId ?? 0,
      msgIdBegin: req.msgIdBegin ?? 0,
      msgList,
    },
  };
}

/**
 * CID_MSG_LIST_REQUEST: up to msg_cnt messages with msg_id <= msg_id_begin
 * (0: from the newest), newest first. Group history only for members, and
 * only from their join time on.
 */
export const msgList = perRequest<ListReq>(
  Cid.CID_MSG_LIST_REQUEST,
  async (ctx, req) => {
    const count = Math.min(req.msgCnt ?? 0, MAX_MSGS_PER_REQUEST);
    const scope = count > 0 ? await scopeOf(ctx, req.userId, req.sessionType, req.sessionId) : null;
    if (!scope) return listAnswer(req, []);
    const rows = req.msgIdBegin
      ? await selectMsgs(ctx, scope, 'AND msgId <= ?', [req.msgIdBegin], count)
      : await selectMsgs(ctx, scope, '', [], count);
    return listAnswer(req, toMsgInfo(rows));
  },
  (req) => listAnswer(req, []),
);

function byIdAnswer(req: ByIdReq, msgList: IM.BaseDefine.IMsgInfo[]): Reply {
  return {
    commandId: Cid.CID_MSG_GET_BY_MSG_ID_RES,
    message: { userId: req.userId ?? 0, sessionType: req.sessionType || SessionType.SINGLE, sessionId: req.sessionId ?? 0, msgList },
  };
}

/** CID_MSG_GET_BY_MSG_ID_REQ: the listed messages that exist and are visible, newest first. */
export const msgById = perRequest<ByIdReq>(
  Cid.CID_MSG_GET_BY_MSG_ID_REQ,
  async (ctx, req) => {
    const ids = distinctIds(req.msgIdList, MAX_MSGS_PER_REQUEST);
    const scope = ids.length > 0 ? await scopeOf(ctx, req.userId, req.sessionType, req.sessionId) : null;
    if (!scope) return byIdAnswer(req, []);
    const rows = await selectMsgs(ctx, scope, `AND msgId IN (${placeholders(ids.length)})`, ids, ids.length);
    return byIdAnswer(req, toMsgInfo(rows));
  },
  (req) => byIdAnswer(req, []),
);

function latestAnswer(req: LatestReq, latestMsgId: number): Reply {
  return {
    commandId: Cid.CID_MSG_GET_LATEST_MSG_ID_RSP,
    message: { userId: req.userId ?? 0, sessionType: req.sessionType || SessionType.SINGLE, sessionId: req.sessionId ?? 0, latestMsgId },
  };
}

/** CID_MSG_GET_LATEST_MSG_ID_REQ: the largest visible msg id of the session, 0 when none. */
export const latestMsgId = perRequest<LatestReq>(
  Cid.CID_MSG_GET_LATEST_MSG_ID_REQ,
  async (ctx, req) => {
    const scope = await scopeOf(ctx, req.userId, req.sessionType, req.sessionId);
    if (!scope) return latestAnswer(req, 0);
    const rows = await ctx.mysql.query<{ m: number | null }[]>(
      ctx.mysql.shard(scope.shard),
      `SELECT MAX(msgId) AS m FROM ${scope.table} WHERE ${scope.convCol} = ? AND status = 0`,
      [scope.convId],
    );
    return latestAnswer(req, Number(rows[0]?.m ?? 0));
  },
  (req) => latestAnswer(req, 0),
);
