/**
 * Login service: user login (validate through db-proxy, claim the login,
 * kick the previous session of the same client class), logout, and a
 * mobile client kicking its PC session.
 */
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import type { ClientConnection } from '../client-conn.ts';
import { ownConn, serverContext } from '../context.ts';
import { isMobile, KickReason, UserStatus } from '../conversation.ts';
import type { LoggedIn } from '../sessions.ts';
import type { ClientFail, ClientHandler, HandlerEntry } from './types.ts';

/** IM.BaseDefine.ResultType values used here. */
export const LoginResult = {
  NONE: 0,
  /** The server is busy: TeamTalk's clients show an error and retry later (not a wrong password). */
  MSG_SERVER_FULL: 2,
  NO_DB_SERVER: 3,
  DB_VALIDATE_FAILED: 6,
} as const;

const CLIENT_TYPE_MAC = 0x02;

function answer(conn: ClientConnection, seqNum: number, resultCode: number, resultString: string, extra: object = {}): void {
  const message: IM.Login.IIMLoginRes = { serverTime: Math.floor(Date.now() / 1000), resultCode, resultString, ...extra };
  conn.send(Cid.CID_LOGIN_RES_USERLOGIN, message, seqNum);
}

function refuse(conn: ClientConnection, seqNum: number, resultCode: number, resultString: string): void {
  answer(conn, seqNum, resultCode, resultString);
  conn.close(`login refused (${resultCode})`);
}

function onlineStatus(requested: number): number {
  return requested >= UserStatus.ONLINE && requested <= UserStatus.LEAVE ? requested : UserStatus.ONLINE;
}

const userLogin: ClientHandler = async (ctx, c, req) => {
  const core = serverContext(ctx);
  const conn = ownConn(c);
  const seq = req.header.seqNum;
  const m = req.message as unknown as IM.Login.IMLoginReq;
  if (conn.session) {
    answer(conn, seq, LoginResult.NONE, 'already logged in', { onlineStatus: conn.session.status, userInfo: conn.session.userInfo });
    return;
  }
  if (conn.loginStarted) {
    answer(conn, seq, LoginResult.DB_VALIDATE_FAILED, 'a login is already in progress on this connection');
    return;
  }
  conn.loginStarted = true;
  const refused = core.loginThrottle.attempt(conn.remoteAddress);
  if (refused > 0) {
    // A spray is hundreds of attempts a second: logged at its 1st, 10th, 100th... refusal.
    if (/^10*$/.test(String(refused))) conn.log.warn({ peer: conn.remoteAddress, refused }, 'login attempts over the per-source rate refused');
    refuse(conn, seq, LoginResult.MSG_SERVER_FULL, 'too many login attempts from this address, try again later');
    return;
  }
  const status = onlineStatus(m.onlineStatus);
  if (!core.dbAvailable()) {
    refuse(conn, seq, LoginResult.NO_DB_SERVER, 'server unavailable, try again later');
    return;
  }
  let rsp: IM.Server.IMValidateRsp;
  try {
    rsp = (await ctx.db<IM.Server.IMValidateRsp>(Cid.CID_OTHER_VALIDATE_REQ, { userName: m.userName, password: m.password }, undefined, conn.id)).message;
  } catch (err) {
    conn.log.warn({ err }, 'login validation failed');
    refuse(conn, seq, LoginResult.NO_DB_SERVER, 'server unavailable, try again later');
    return;
  }
  if (conn.closing) return;
  if (rsp.resultCode !== 0 || !rsp.userInfo) {
    conn.log.info({ userName: m.userName, result: rsp.resultCode }, 'login refused by db-proxy');
    refuse(conn, seq, LoginResult.DB_VALIDATE_FAILED, rsp.resultString || 'login failed');
    return;
  }
  const uid = rsp.userInfo.userId;
  conn.pendingUid = uid;
  try {
    await core.presence.claim(conn, uid, m.clientType);
  } catch (err) {
    conn.log.warn({ err, uid }, 'login owner not claimed');
    refuse(conn, seq, LoginResult.NO_DB_SERVER, 'server unavailable, try again later');
    return;
  }
  if (conn.closing) {
    core.presence.release(conn, uid, m.clientType);
    return;
  }
  conn.session = { uid, clientType: m.clientType, status, userInfo: rsp.userInfo, caps: new Set() };
  conn.log = conn.log.child({ uid });
  conn.log.info({ clientType: m.clientType, version: m.clientVersion }, 'logged in');
  answer(conn, seq, LoginResult.NONE, rsp.resultString ?? '', { onlineStatus: status, userInfo: rsp.userInfo });
  core.presence.online(conn as LoggedIn<ClientConnection>);
};

const loginFail: ClientFail = (c, req) => refuse(ownConn(c), req.header.seqNum, LoginResult.NO_DB_SERVER, 'server error');

const logout: ClientHandler = async (ctx, c, req) => {
  const conn = ownConn(c);
  const s = conn.session!;
  if (isMobile(s.clientType)) {
    // A mobile client that logs out wants no more pushes; a PC has no push token to clear.
    ctx.db(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: s.uid, deviceToken: '', clientType: s.clientType }, undefined, conn.id).catch((err: unknown) => {
      conn.log.warn({ err }, 'device token not cleared on logout');
    });
  }
  conn.send(Cid.CID_LOGIN_RES_LOGINOUT, { resultCode: 0 }, req.header.seqNum);
  conn.close('logout');
};

const logoutFail: ClientFail = (c, req) => {
  c.send(Cid.CID_LOGIN_RES_LOGINOUT, { resultCode: 1 }, req.header.seqNum);
  c.close('logout');
};

/** CID_LOGIN_REQ_KICKPCCLIENT: only a mobile client may kick its user's PC session (result 1 otherwise). */
const kickPcClient: ClientHandler = async (ctx, c, req) => {
  const conn = ownConn(c);
  const { uid, clientType } = conn.session!;
  const reply = (resultCode: number): void => conn.send(Cid.CID_LOGIN_RES_KICKPCCLIENT, { userId: uid, resultCode }, req.header.seqNum);
  if (!isMobile(clientType)) {
    reply(1);
    return;
  }
  await serverContext(ctx).presence.kickClass(uid, 'pc', CLIENT_TYPE_MAC, KickReason.MOBILE_KICK);
  reply(0);
};

const kickPcFail: ClientFail = (c, req) => {
  c.send(Cid.CID_LOGIN_RES_KICKPCCLIENT, { userId: c.session?.uid ?? 0, resultCode: 1 }, req.header.seqNum);
};

export const handlers: ReadonlyArray<HandlerEntry> = [
  [Cid.CID_LOGIN_REQ_USERLOGIN, userLogin, loginFail],
  [Cid.CID_LOGIN_REQ_LOGINOUT, logout, logoutFail],
  [Cid.CID_LOGIN_REQ_KICKPCCLIENT, kickPcClient, kickPcFail],
];
