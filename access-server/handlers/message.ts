/**
 * Chat messages: send (store through db-proxy, ack on the request's seq,
 * push to the receivers and the sender's other devices), read acks, and the
 * server clock.
 *
 * Answer convention for CID_MSG_DATA: every message gets a CID_MSG_DATA_ACK
 * on its own seq number. msg_id > 0: stored under that id. msg_id 0: NOT
 * stored (over the rate limit, empty, to oneself, not a group member,
 * a storage failure db-proxy knows left nothing) — the same convention
 * db-proxy uses; the client may resend. When the outcome is not known (the
 * request reached db-proxy and no answer came back) nothing is answered and
 * the connection is closed.
 */
import { ErrorCode, isImError } from '../../common/errors.ts';
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { conversationKey, isGroupMsgType, SessionType } from '../conversation.ts';
import type { ClientConn, ClientFail, ClientHandler, ClientRequest, HandlerEntry } from './types.ts';

type MsgData = IM.Message.IMMsgData;

function sessionTypeOf(msgType: number): number {
  return isGroupMsgType(msgType) ? SessionType.GROUP : SessionType.SINGLE;
}

function ack(conn: ClientConn, req: ClientRequest, msgId: number): void {
  const m = req.message as unknown as MsgData;
  conn.send(
    Cid.CID_MSG_DATA_ACK,
    { userId: conn.session?.uid ?? 0, sessionId: m.toSessionId, msgId, sessionType: sessionTypeOf(m.msgType) },
    req.header.seqNum,
  );
}

const msgData: ClientHandler = async (ctx, conn, req) => {
  const uid = conn.session!.uid;
  const m = req.message as unknown as MsgData;
  const group = isGroupMsgType(m.msgType);
  if (m.msgData.length === 0 || m.toSessionId === 0 || (!group && m.toSessionId === uid)) {
    conn.log.debug({ to: m.toSessionId, msgType: m.msgType }, 'message refused: empty or to oneself');
    ack(conn, req, 0);
    return;
  }
  const key = conversationKey(uid, m.toSessionId, group);
  const outgoing = { fromUserId: uid, toSessionId: m.toSessionId, msgId: 0, createTime: ctx.now(), msgType: m.msgType, msgData: m.msgData };
  // Called before any await: requests of one conversation leave in arrival order on one link.
  const answer = ctx.db<MsgData>(Cid.CID_MSG_DATA, outgoing, key, conn.id);
  let stored: MsgData;
  try {
    stored = (await answer).message;
  } catch (err) {
    if (outcomeUnknown(err)) {
      // The request left for db-proxy and no answer came (timeout, link lost), or db-proxy itself
      // could not learn the outcome in time (answer flag 0x4000): it may be stored.
      // Saying "not stored" could be a lie and invite a duplicate resend, so close instead; the
      // client finds the message (or not) in its history after it reconnects.
      conn.log.warn({ err, to: m.toSessionId }, 'message outcome unknown; closing the connection rather than answer');
      conn.close('message outcome unknown');
      return;
    }
    conn.log.warn({ err, to: m.toSessionId }, 'message not stored');
    ack(conn, req, 0);
    return;
  }
  if (!stored.msgId) {
    ack(conn, req, 0);
    return;
  }
  ack(conn, req, stored.msgId);
  const pushed = { ...outgoing, msgId: stored.msgId, createTime: stored.createTime || outgoing.createTime };
  if (!group) {
    ctx.deliver([m.toSessionId, uid], Cid.CID_MSG_DATA, pushed, { exceptConnId: conn.id, orderKey: key });
    return;
  }
  let members: readonly number[];
  try {
    members = await ctx.groupMembers(m.toSessionId, uid);
  } catch (err) {
    // Stored and acked: members pull it as unread; only the push is lost.
    conn.log.warn({ err, groupId: m.toSessionId }, 'group members unknown; message not pushed');
    return;
  }
  ctx.deliver(members, Cid.CID_MSG_DATA, pushed, { exceptConnId: conn.id, orderKey: key });
};

/** True when a db-proxy request failed after it was sent: stored or not, nobody knows. */
function outcomeUnknown(err: unknown): boolean {
  return (
    isImError(err, ErrorCode.OUTCOME_UNKNOWN) ||
    isImError(err, ErrorCode.TIMEOUT) ||
    isImError(err, ErrorCode.CONNECTION_CLOSED) ||
    isImError(err, ErrorCode.SHUTTING_DOWN)
  );
}

const msgDataFail: ClientFail = (conn, req) => ack(conn, req, 0);

/** The client confirms it received a pushed message: nothing to do (no answer in the protocol). */
const msgDataAck: ClientHandler = async () => {};

/** CID_MSG_READ_ACK: clear the unread count (db-proxy, no answer) and tell the user's other devices. */
const readAck: ClientHandler = async (ctx, conn, req) => {
  const uid = conn.session!.uid;
  const m = req.message as unknown as IM.Message.IMMsgDataReadAck;
  const key = conversationKey(uid, m.sessionId, m.sessionType === SessionType.GROUP);
  const body = { userId: uid, sessionId: m.sessionId, msgId: m.msgId, sessionType: m.sessionType };
  ctx.db(Cid.CID_MSG_READ_ACK, body, key, conn.id).catch((err: unknown) => conn.log.warn({ err }, 'read ack not stored'));
  ctx.deliver([uid], Cid.CID_MSG_READ_NOTIFY, body, { exceptConnId: conn.id, orderKey: key });
};

const timeRequest: ClientHandler = async (ctx, conn, req) => {
  conn.send(Cid.CID_MSG_TIME_RESPONSE, { serverTime: ctx.now() }, req.header.seqNum);
};

export const handlers: ReadonlyArray<HandlerEntry> = [
  [Cid.CID_MSG_DATA, msgData, msgDataFail],
  [Cid.CID_MSG_DATA_ACK, msgDataAck],
  [Cid.CID_MSG_READ_ACK, readAck],
  [Cid.CID_MSG_TIME_REQUEST, timeRequest],
];
