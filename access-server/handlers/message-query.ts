/**
 * Message queries: unread counts, history pages, messages by id and the
 * latest msg id of a session. db-proxy answers (db-forward.ts) for the
 * session's user, whatever user id the client put in the request: it only
 * shows a user the one-to-one conversations they are part of and the
 * groups they are a member of.
 *
 * Session queries go through the db-proxy link of their conversation
 * (sessionKey), the one its messages take, so a query sent after a
 * message in the same conversation is not overtaken by it.
 *
 * On failure the answers have no result code in the protocol, so the
 * client gets the empty answer: no unread sessions, no messages, latest
 * msg id 0.
 */
import { Cid } from '../../proto/commands.ts';
import { forward, sessionKey, type Body } from './db-forward.ts';
import type { HandlerEntry } from './types.ts';

const keyOf = (r: Body, uid: number): string => sessionKey(r.sessionType, uid, r.sessionId);

/** The session a query names, echoed in its answer. */
const sessionOf = (r: Body): Body => ({ userId: r.userId, sessionType: r.sessionType, sessionId: r.sessionId ?? 0 });

const unreadCount = forward(Cid.CID_MSG_UNREAD_CNT_REQUEST, {
  response: Cid.CID_MSG_UNREAD_CNT_RESPONSE,
  failure: (r) => ({ userId: r.userId, totalCnt: 0, unreadinfoList: [] }),
});

const msgList = forward(Cid.CID_MSG_LIST_REQUEST, {
  response: Cid.CID_MSG_LIST_RESPONSE,
  failure: (r) => ({ ...sessionOf(r), msgIdBegin: r.msgIdBegin ?? 0, msgList: [] }),
  orderKey: keyOf,
});

const msgById = forward(Cid.CID_MSG_GET_BY_MSG_ID_REQ, {
  response: Cid.CID_MSG_GET_BY_MSG_ID_RES,
  failure: (r) => ({ ...sessionOf(r), msgList: [] }),
  orderKey: keyOf,
});

const latestMsgId = forward(Cid.CID_MSG_GET_LATEST_MSG_ID_REQ, {
  response: Cid.CID_MSG_GET_LATEST_MSG_ID_RSP,
  failure: (r) => ({ ...sessionOf(r), latestMsgId: 0 }),
  orderKey: keyOf,
});

export const handlers: ReadonlyArray<HandlerEntry> = [unreadCount, msgList, msgById, latestMsgId];
