/**
 * Chat messages: send (store through db-proxy, ack on the request's seq,
 * push to the receivers and the sender's other devices), read acks, and the
 * server clock.
 *
 * Answer convention for CID_MSG_DATA, by client kind:
 * - stored: CID_MSG_DATA_ACK on the request's seq with the msg id, to every client;
 * - NOT stored (over the rate limit, empty, to oneself, not a group member,
 *   a storage failure db-proxy knows left nothing): a client that asked for
 *   "refusal-ack" (proto/caps.ts) gets the ack with msg_id 0, db-proxy's own
 *   convention, and may resend. A TeamTalk client gets no answer, as from
 *   TeamTalk's msg_server: its clients read any ack as success (iOS, Mac and
 *   Windows show the message sent; Android throws on msg_id 0 and leaves it
 *   "sending" for good) and turn silence into "failed" on their own timers
 *   (Android 6 to 11 s, iOS 5 to 10 s, Mac 8 s; Windows first resends it
 *   once by itself after 6 s). Both are counted for /metrics;
 * - outcome not known (the request reached db-proxy and no answer came back,
 *   or db-proxy could not learn it in time): nothing is answered and the
 *   connection is closed, for both kinds (see msgData).
 */
import { ErrorCode, isImError } from '../../common/errors.ts';
import { ClientCap } from '../../proto/caps.ts';
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { conversationKey, isGroupMsgType, SessionType } from '../conversation.ts';
import type { AccessContext, ClientConn, ClientFail, ClientHandler, ClientRequest, HandlerEntry } from './types.ts';

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

/** Tells the sender its message was not stored, the way its client understands it. */
function refuse(ctx: AccessContext, conn: ClientConn, req: ClientRequest, reason: string, quiet = false): void {
  if (conn.session?.caps.has(ClientCap.REFUSAL_ACK)) {
    ctx.messageStats.refusedAnswered++;
    ack(conn, req, 0);
    return;
  }
  ctx.messageStats.refusedUnanswered++;
  // Over the rate a client can make these as fast as it can write: not one log line each.
  conn.log[quiet ? 'debug' : 'info']({ seq: req.header.seqNum, reason }, 'message not stored; a TeamTalk client gets no answer');
}

const msgData: ClientHandler = async (ctx, conn, req) => {
  const uid = conn.session!.uid;
  const m = req.message as unknown as MsgData;
  const group = isGroupMsgType(m.msgType);
  if (m.msgData.length === 0 || m.toSessionId === 0 || (!group && m.toSessionId === uid)) {
    refuse(ctx, conn, req, 'empty or to oneself');
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
      // could not learn the outcome in time (answer flag 0x4000): it may be stored. Any answer
      // would be a guess: msg_id 0 says "not stored" to a refusal-ack client and "sent" to
      // TeamTalk's, which read every ack as success. Silence on a live connection is a TeamTalk
      // client's refusal: Android and iOS mark the message failed and offer to resend it, and
      // Windows resends the same content by itself after 6 s, a duplicate if the first was
      // stored. So close: Android drops its pending acks with the connection (the message stays
      // "sending", no resend offered) and Windows' own resend finds no connection unless it has
      // logged in again within those 6 s (its relogin starts after 3 to 4 s); iOS and Mac show it
      // failed on their timers whatever the server does. After reconnecting, every client finds
      // the message, or not, in its history.
      ctx.messageStats.outcomeUnknown++;
      conn.log.warn({ err, to: m.toSessionId }, 'message outcome unknown; closing the connection rather than answer');
      conn.close('message outcome unknown');
      return;
    }
    conn.log.warn({ err, to: m.toSessionId }, 'message not stored');
    refuse(ctx, conn, req, 'storage failure');
    return;
  }
  if (!stored.msgId) {
    refuse(ctx, conn, req, 'db-proxy did not store it');
    return;
  }
  ack(conn, req, stored.msgId);
  const pushed = { ...outgoing, msgId: stored.msgId, createTime: stored.createTime || outgoing.createTime };
  const nick = (conn.session!.userInfo as { userNickName?: string }).userNickName ?? null;
  if (!group) {
    ctx.deliver([m.toSessionId, uid], Cid.CID_MSG_DATA, pushed, { exceptConnId: conn.id, orderKey: key });
    ctx.push?.(pushed, [m.toSessionId], nick);
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
  ctx.push?.(pushed, members, nick);
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

const msgDataFail: ClientFail = (conn, req, err, ctx) => {
  const overRate = isImError(err, ErrorCode.RATE_LIMITED);
  refuse(ctx, conn, req, overRate ? 'over the message rate' : 'handler failed', overRate);
};

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
