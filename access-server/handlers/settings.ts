/**
 * Per-user push settings: the push shield (no notification pushes to the
 * user's phone at night) and the device token pushes go to. db-proxy
 * stores both (db-forward.ts); the user is always the session's user.
 */
import { Cid } from '../../proto/commands.ts';
import { forward, isMobile, ResultCode } from './db-forward.ts';
import type { HandlerEntry } from './types.ts';

const pushShield = forward(Cid.CID_LOGIN_REQ_PUSH_SHIELD, {
  response: Cid.CID_LOGIN_RES_PUSH_SHIELD,
  failure: (r) => ({ userId: r.userId, resultCode: ResultCode.FAILED }),
});

const queryPushShield = forward(Cid.CID_LOGIN_REQ_QUERY_PUSH_SHIELD, {
  response: Cid.CID_LOGIN_RES_QUERY_PUSH_SHIELD,
  failure: (r) => ({ userId: r.userId, resultCode: ResultCode.FAILED }),
});

/**
 * Stores the device token of a phone under the connection's client type
 * (not the one the request names). Only iOS and Android connections have
 * tokens worth storing: a PC client's request is answered without storing
 * anything (TeamTalk left it unanswered). The answer has no result field,
 * so a client cannot tell a failed store from a stored one; db-proxy's
 * failures are logged.
 */
const deviceToken = forward(Cid.CID_LOGIN_REQ_DEVICETOKEN, {
  response: Cid.CID_LOGIN_RES_DEVICETOKEN,
  failure: (r) => ({ userId: r.userId }),
  own(r, session) {
    r.clientType = session.clientType;
  },
  refuse: (_r, session) => !isMobile(session.clientType),
});

export const handlers: ReadonlyArray<HandlerEntry> = [pushShield, queryPushShield, deviceToken];
