/**
 * Registration and presence: CID_OTHER_MSG_SERV_INFO, CID_OTHER_ONLINE_USER_INFO,
 * CID_OTHER_USER_STATUS_UPDATE, CID_OTHER_USER_CNT_UPDATE, and the presence
 * query CID_BUDDY_LIST_USERS_STATUS_REQUEST (answered from the full table);
 * status changes go on to every server as TeamTalk's route_server sends them.
 * TeamTalk msg_servers report their users the same way, without registering.
 */
import { Cid, encodeBody } from '../../proto/commands.ts';
import { encodePdu } from '../../proto/header.ts';
import { AuthResult, refusalPdu } from '../../common/cluster-auth.ts';
import type { RouteLink } from '../link.ts';
import { isPcClient, serverInfoOf } from '../presence.ts';
import { send } from './send.ts';
import { ACCESS_ROLE, decodeOrNull, type Handler, type RouteContext } from './types.ts';

const USER_STATUS_ONLINE = 1;
const USER_STATUS_OFFLINE = 2;
/** IM_PC_LOGIN_STATUS_ON / _OFF of TeamTalk's IMServerPCLoginStatusNotify. */
const PC_LOGIN_ON = 1;
const PC_LOGIN_OFF = 0;
const USER_CNT_INC = 1;
const USER_CNT_DEC = 2;

/**
 * Registration. A link authenticated as an access server registers only the
 * server id it authenticated with. A server id held by another live link is
 * taken over only by a reconnect of the same process (same instance), or when
 * that link has been silent for longer than a live peer ever is; otherwise
 * the new registration is refused and its link closed: two processes never
 * share one id silently.
 */
export const onMsgServInfo: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_OTHER_MSG_SERV_INFO, pdu);
  if (!m) return;
  if (m.hostName === '') {
    from.log.warn('server info without a server id (host_name); ignored');
    return;
  }
  const mine = from.admission;
  if (mine?.kind === 'authenticated' && mine.identity.role === ACCESS_ROLE && mine.identity.name !== m.hostName) {
    refuseRegistration(ctx, from, `registers as ${m.hostName} but authenticated as ${mine.identity.name}`);
    return;
  }
  const holderId = ctx.presence.linkOfServer(m.hostName);
  const holder = holderId !== undefined && holderId !== from.id ? ctx.link(holderId) : undefined;
  if (holder && !holder.closed) {
    const theirs = holder.admission;
    const sameProcess = mine?.kind === 'authenticated' && theirs?.kind === 'authenticated' && mine.identity.instance.equals(theirs.identity.instance);
    const silentMs = holder.silentFor();
    if (!sameProcess && silentMs <= ctx.takeoverSilenceMs) {
      refuseRegistration(ctx, from, `server id ${m.hostName} is held by live link ${holder.id} (heard ${silentMs} ms ago)`);
      return;
    }
    from.log.warn({ serverId: m.hostName, previousLink: holder.id, sameProcess, silentMs }, 'server id taken over from an older link');
  }
  const stale = ctx.presence.register(from.id, serverInfoOf(m));
  from.serverId = m.hostName;
  from.log.info({ serverId: m.hostName, ip1: m.ip1, ip2: m.ip2, port: m.port, max: m.maxConnCnt, cur: m.curConnCnt }, 'access server registered');
  if (stale !== undefined) ctx.dropLink(stale, `server ${m.hostName} registered again on link ${from.id}`);
};

function refuseRegistration(ctx: RouteContext, from: RouteLink, why: string): void {
  ctx.stats.registrationsRefused++;
  from.log.error({ reason: why }, 'registration refused; closing the link');
  from.write(refusalPdu(AuthResult.AUTH_DUPLICATE, `registration refused: ${why}`));
  from.end();
}

/** Presence from a link that has not registered is not believed (nor kept); a TeamTalk msg_server never registers here. */
function registered(ctx: RouteContext, from: RouteLink, what: string): boolean {
  if (from.kind === 'classic' || ctx.presence.server(from.id)) return true;
  ctx.stats.unregisteredReports++;
  from.log.warn(`${what} before registration; ignored`);
  return false;
}

export const onOnlineUserInfo: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_OTHER_ONLINE_USER_INFO, pdu);
  if (!m || !registered(ctx, from, 'online users')) return;
  let added = 0;
  for (const s of m.userStatList) {
    if (s.status === USER_STATUS_OFFLINE) continue;
    ctx.presence.addConnection(from.id, s.userId, s.clientType);
    added++;
  }
  from.log.info({ entries: m.userStatList.length, added }, 'online users reported');
};

export const onUserStatusUpdate: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_OTHER_USER_STATUS_UPDATE, pdu);
  if (!m || !registered(ctx, from, 'status update')) return;
  if (m.userStatus === USER_STATUS_ONLINE) {
    ctx.presence.addConnection(from.id, m.userId, m.clientType);
  } else if (m.userStatus === USER_STATUS_OFFLINE) {
    ctx.presence.removeConnection(from.id, m.userId, m.clientType);
  } else {
    // USER_STATUS_LEAVE and anything else change no connection.
    from.log.debug({ uid: m.userId, status: m.userStatus }, 'status update without a connection change');
    return;
  }
  from.log.debug({ uid: m.userId, status: m.userStatus, clientType: m.clientType }, 'user status');
  notifyStatus(ctx, m.userId, m.userStatus, m.clientType);
};

/**
 * TeamTalk's route_server rules after a status change, to every
 * server, the one the change came from included: each server tells its own
 * clients what comes back from here, so they all follow one order and one
 * view of the whole cluster.
 * - CID_OTHER_LOGIN_STATUS_NOTIFY (so that the user's phones learn whether a
 *   PC is logged in) when a PC client went offline and none is left, or when
 *   any client came online while a PC is.
 * - CID_BUDDY_LIST_STATUS_NOTIFY (every PC client shows the user's new
 *   status) when a PC client's status changed, except a PC going offline
 *   while another PC of the user is still connected.
 */
function notifyStatus(ctx: RouteContext, uid: number, status: number, clientType: number): void {
  const pcOnline = ctx.presence.isPcOnline(uid);
  const pc = isPcClient(clientType);
  const targets = ctx.peerLinks();
  if ((status === USER_STATUS_OFFLINE && pc && !pcOnline) || (status === USER_STATUS_ONLINE && pcOnline)) {
    const login = encodePdu(
      { commandId: Cid.CID_OTHER_LOGIN_STATUS_NOTIFY },
      encodeBody(Cid.CID_OTHER_LOGIN_STATUS_NOTIFY, { userId: uid, loginStatus: status === USER_STATUS_OFFLINE ? PC_LOGIN_OFF : PC_LOGIN_ON }),
    );
    for (const id of targets) send(ctx, id, login);
  }
  if (!pc || (status === USER_STATUS_OFFLINE && pcOnline)) return;
  const notify = encodePdu({ commandId: Cid.CID_BUDDY_LIST_STATUS_NOTIFY }, encodeBody(Cid.CID_BUDDY_LIST_STATUS_NOTIFY, { userStat: { userId: uid, status } }));
  for (const id of targets) send(ctx, id, notify);
}

export const onUserCntUpdate: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_OTHER_USER_CNT_UPDATE, pdu);
  if (!m || !registered(ctx, from, 'count update')) return;
  if (m.userAction === USER_CNT_INC) ctx.presence.adjustCount(from.id, 1);
  else if (m.userAction === USER_CNT_DEC) ctx.presence.adjustCount(from.id, -1);
  else from.log.warn({ action: m.userAction }, 'unknown count update action; ignored');
};

/** Online when a PC client of the user is connected anywhere (TeamTalk's rule: a user only on a phone is offline); seq and attach_data echoed. */
export const onUsersStatusRequest: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, pdu);
  if (!m) return;
  const body = encodeBody(Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE, {
    userId: m.userId,
    userStatList: m.userIdList.map((uid) => ({
      userId: uid,
      status: ctx.presence.isPcOnline(uid) ? USER_STATUS_ONLINE : USER_STATUS_OFFLINE,
    })),
    ...(m.attachData && m.attachData.length > 0 ? { attachData: m.attachData } : {}),
  });
  from.write(encodePdu({ commandId: Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE, seqNum: pdu.header.seqNum }, body));
};
