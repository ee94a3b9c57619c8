/**
 * The shape of most client commands: the requester's own id is forced to
 * the session's user (a client never acts as someone else), the request
 * goes to db-proxy, and db-proxy's answer goes back to the client on the
 * client's seq number without attach_data. When db-proxy fails, times out
 * or answers with something else, the client still gets an answer: the
 * command's explicit failure (result_code 1 where the answer has one,
 * otherwise the answer with empty lists).
 *
 * `forward(cid, spec)` builds the handler-table row of such a command (its
 * refusal sends the same failure); `tell(cid, prepare)` the row of a
 * command without answer.
 */
import { SessionType, conversationKey } from '../conversation.ts';
import type { AccessContext, ClientConn, ClientFail, ClientHandler, ClientRequest, ClientSession, HandlerEntry } from './types.ts';

export type Body = Record<string, unknown>;

export { SessionType, isMobile } from '../conversation.ts';
export const ResultCode = { OK: 0, FAILED: 1 } as const;

/**
 * The order key of the conversation a request names (its session type and
 * session id, seen from `uid`): the key message deliveries of that
 * conversation use, so requests and notifies about it keep their order.
 */
export function sessionKey(sessionType: unknown, uid: number, sessionId: unknown): string {
  return conversationKey(uid, Number(sessionId) || 0, sessionType === SessionType.GROUP);
}

/** The order key of one user's own settings and lists. */
export const userKey = (uid: number): string => `user:${uid}`;

/** A copy of a decoded body without attach_data (a server-side field clients never set nor see). */
export function withoutAttach(message: Body): Body {
  const copy: Body = { ...message };
  delete copy.attachData;
  return copy;
}

/** Numbers of a repeated uint32 field, as a plain array. */
export function idList(value: unknown): number[] {
  return Array.isArray(value) ? value.filter((v): v is number => typeof v === 'number') : [];
}

export interface Relay {
  /** The command db-proxy answers with; the client gets the same command. */
  response: number;
  /** The explicit failure answer, built from the request as forwarded (its user id already forced). */
  failure(req: Body): Body;
  /** Forces more fields than `userId` (e.g. the client type of a device token). */
  own?(req: Body, session: ClientSession): void;
  /** True when the request is refused here, without asking db-proxy: the client gets `failure`. */
  refuse?(req: Body, session: ClientSession): boolean;
  /** Which db-proxy link (default: one per user): requests with the same key keep their order. */
  orderKey?(req: Body, uid: number): string | undefined;
  /** Changes db-proxy's answer before the client gets it. */
  adjust?(answer: Body): Body;
  /** Runs after the client got db-proxy's answer (notifies); its errors are logged, never a second answer. */
  after?(ctx: AccessContext, conn: ClientConn, answer: Body, req: Body): Promise<void> | void;
}

/** The request as it goes to db-proxy: no attach_data, the requester forced to the session's user. */
function owned(conn: ClientConn, req: ClientRequest, spec: Relay): Body {
  const ask = withoutAttach(req.message);
  ask.userId = conn.session?.uid ?? 0;
  if (conn.session) spec.own?.(ask, conn.session);
  return ask;
}

/**
 * The handler-table row of a command db-proxy answers: the handler
 * forwards and answers the client on its seq number; the refusal (used by
 * the dispatcher when the handler throws) sends the failure answer.
 */
export function forward(cid: number, spec: Relay): HandlerEntry {
  const fail: ClientFail = (conn, req) => conn.send(spec.response, spec.failure(owned(conn, req, spec)), req.header.seqNum);
  const handler: ClientHandler = async (ctx, conn, req) => {
    const seq = req.header.seqNum;
    const session = conn.session;
    const ask = owned(conn, req, spec);
    if (!session || spec.refuse?.(ask, session)) {
      conn.send(spec.response, spec.failure(ask), seq);
      return;
    }
    let body: Body;
    try {
      const answer = await ctx.db<Body>(cid, ask, spec.orderKey ? spec.orderKey(ask, session.uid) : userKey(session.uid), conn.id);
      if (answer.commandId !== spec.response) {
        throw new Error(`db-proxy answered 0x${cid.toString(16)} with 0x${answer.commandId.toString(16)}`);
      }
      const stripped = withoutAttach(answer.message);
      body = spec.adjust ? spec.adjust(stripped) : stripped;
    } catch (err) {
      conn.log.warn({ err, cid }, 'db-proxy gave no answer; the client gets a failure');
      conn.send(spec.response, spec.failure(ask), seq);
      return;
    }
    conn.send(spec.response, body, seq);
    try {
      await spec.after?.(ctx, conn, body, ask);
    } catch (err) {
      conn.log.warn({ err, cid }, 'follow-up of an answered request failed');
    }
  };
  return [cid, handler, fail];
}

/**
 * The handler-table row of a command without answer in the protocol
 * (offline file records): `prepare` forces the request's user fields and
 * returns what db-proxy gets, with its order key; db-proxy's failures are
 * logged.
 */
export function tell(cid: number, prepare: (req: Body, session: ClientSession) => { message: Body; orderKey?: string }): HandlerEntry {
  const handler: ClientHandler = async (ctx, conn, req) => {
    if (!conn.session) return;
    const { message, orderKey } = prepare(withoutAttach(req.message), conn.session);
    try {
      await ctx.db(cid, message, orderKey, conn.id);
    } catch (err) {
      conn.log.warn({ err, cid }, 'db-proxy did not take a request without answer');
    }
  };
  return [cid, handler];
}
