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
 * sync (the change moves the user's `updated` time). Under TeamTalk's
 * route_server (ACCESS_ROUTE_PROTOCOL=teamtalk) it is TeamTalk's broadcast:
 * the route_server passes it back here and every user of every server,
 * the changer's own connection too, gets it once.
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
 * Online status of users, as TeamTalk's msg_server gets it: from a
 * route-server, which holds the whole cluster's presence. Without a
 * route-server (or when none answers in time) the answer comes from this
 * server alone: online when logged in here from a PC client (TeamTalk's
 * rule; mobile-only users are offline). One entry per asked id, in the order
 * asked, at most MAX_STATUS_IDS.
 */
const usersStatus: ClientHandler = async (ctx, conn, req) => {
  const ids = idList(req.message.userIdList).slice(0, MAX_STATUS_IDS);
  const userId = conn.session?.uid ?? 0;
  let userStatList: { userId: number; status: number }[] | null = null;
  if (ctx.routeQuery && ids.length > 0) {
    try {
      const rsp = await ctx.routeQuery(Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, { userId, userIdList: ids }, Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE);
      userStatList = (rsp.userStatList as { userId: number; status: number }[]).map((u) => ({ userId: u.userId, status: u.status }));
    } catch (err) {
      conn.log.warn({ err }, 'route-server status query failed; answering from this server');
    }
  }
  userStatList ??= ids.map((id) => ({
    userId: id,
    status: ctx.localConns(id).some((c) => c.session !== null && !isMobile(c.session.clientType)) ? UserStatus.ONLINE : UserStatus.OFFLINE,
  }));
  conn.send(Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE, { userId, userStatList }, req.header.seqNum);
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
