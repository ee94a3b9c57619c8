/**
 * Buddy-list commands: recent sessions, users, departments, signatures and
 * online status. Everything but the status query is answered by db-proxy
 * (db-forward.ts); the requester is always the session's user.
 */
import { Cid } from '../../proto/commands.ts';
import { UserStatus } from '../conversation.ts';
import { forward, idList, isMobile, ResultCode, SessionType, sessionKey, type Body } from './db-forward.ts';
import type { AccessContext, ClientConn, ClientFail, ClientHandler, HandlerEntry } from './types.ts';

/** Users one status query may ask about; ids beyond are left out of the answer. */
export const MAX_STATUS_IDS = 5000;

const recentSessions = forward(Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, {
  response: Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE,
  failure: (r) => ({ userId: r.userId, contactSessionList: [] }),
});

const usersInfo = forward(Cid.CID_BUDDY_LIST_USER_INFO_REQUEST, {
  response: Cid.CID_BUDDY_LIST_USER_INFO_RESPONSE,
  failure: (r) => ({ userId: r.userId, userInfoList: [] }),
});

const allUsers = forward(Cid.CID_BUDDY_LIST_ALL_USER_REQUEST, {
  response: Cid.CID_BUDDY_LIST_ALL_USER_RESPONSE,
  failure: (r) => ({ userId: r.userId, latestUpdateTime: r.latestUpdateTime ?? 0, userList: [] }),
});

const departments = forward(Cid.CID_BUDDY_LIST_DEPARTMENT_REQUEST, {
  response: Cid.CID_BUDDY_LIST_DEPARTMENT_RESPONSE,
  failure: (r) => ({ userId: r.userId, latestUpdateTime: r.latestUpdateTime ?? 0, deptList: [] }),
});

/**
 * Hides a recent session. When a one-to-one session was removed, the
 * user's other devices (on any server) get CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY,
 * as in TeamTalk (which does not notify for group sessions).
 */
const removeSession = forward(Cid.CID_BUDDY_LIST_REMOVE_SESSION_REQ, {
  response: Cid.CID_BUDDY_LIST_REMOVE_SESSION_RES,
  failure: (r) => ({ userId: r.userId, resultCode: ResultCode.FAILED, sessionType: r.sessionType, sessionId: r.sessionId }),
  orderKey: (r, uid) => sessionKey(r.sessionType, uid, r.sessionId),
  after(ctx, conn, answer, req) {
    if (answer.resultCode !== ResultCode.OK || req.sessionType !== SessionType.SINGLE) return;
    const uid = req.userId as number;
    const notify = { userId: uid, sessionType: SessionType.SINGLE, sessionId: req.sessionId };
    ctx.deliver([uid], Cid.CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY, notify, {
      exceptConnId: conn.id,
      orderKey: sessionKey(SessionType.SINGLE, uid, req.sessionId),
    });
  },
});

/**
 * Changes the user's signature. On success CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY
 * goes to the user's other devices and to the peers of the user's recent
 * one-to-one sessions (at most 100, the newest; db-proxy's list). TeamTalk
 * broadcasts it to every online user of every server; our routing never
 * broadcasts, so everyone else sees the new signature at their next user
 * sync (the change moves the user's `updated` time).
 */
const changeSignInfo = forward(Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, {
  response: Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE,
  failure: (r) => ({ userId: r.userId, resultCode: ResultCode.FAILED }),
  async after(ctx, conn, answer, req) {
    if (answer.resultCode !== ResultCode.OK) return;
    const uid = req.userId as number;
    const signInfo = typeof answer.signInfo === 'string' ? answer.signInfo : String(req.signInfo ?? '');
    const recipients = new Set([uid, ...(await recentPeers(ctx, conn, uid))]);
    ctx.deliver([...recipients], Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, { changedUserId: uid, signInfo }, { exceptConnId: conn.id });
  },
});

/** Peers of the user's recent one-to-one sessions; empty when db-proxy cannot say. */
async function recentPeers(ctx: AccessContext, conn: ClientConn, uid: number): Promise<number[]> {
  try {
    const answer = await ctx.db<Body>(Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, { userId: uid, latestUpdateTime: 0 });
    const list = Array.isArray(answer.message.contactSessionList) ? (answer.message.contactSessionList as Body[]) : [];
    return list.filter((s) => s.sessionType === SessionType.SINGLE).map((s) => Number(s.sessionId)).filter((id) => id > 0);
  } catch (err) {
    conn.log.warn({ err }, 'recent sessions unknown; signature change told to own devices only');
    return [];
  }
}

/**
 * Online status of users, answered here without db-proxy: a user is online
 * when logged in on THIS access server from a PC client (TeamTalk reports
 * a user online only while a PC client is logged in; mobile-only users are
 * offline). Users logged in only on other access servers are reported
 * offline: the route protocol has no query, and this server does not keep
 * the cluster's presence. One entry per asked id, in the order asked, at
 * most MAX_STATUS_IDS.
 */
const usersStatus: ClientHandler = async (ctx, conn, req) => {
  const ids = idList(req.message.userIdList).slice(0, MAX_STATUS_IDS);
  const userStatList = ids.map((userId) => ({
    userId,
    status: ctx.localConns(userId).some((c) => c.session !== null && !isMobile(c.session.clientType)) ? UserStatus.ONLINE : UserStatus.OFFLINE,
  }));
  conn.send(Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE, { userId: conn.session?.uid ?? 0, userStatList }, req.header.seqNum);
};

const noStatus: ClientFail = (conn, req) =>
  conn.send(Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE, { userId: conn.session?.uid ?? 0, userStatList: [] }, req.header.seqNum);

export const handlers: ReadonlyArray<HandlerEntry> = [
  recentSessions,
  usersInfo,
  removeSession,
  allUsers,
  departments,
  changeSignInfo,
  [Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, usersStatus, noStatus],
];
