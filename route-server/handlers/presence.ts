/**
 * Registration and presence: CID_OTHER_MSG_SERV_INFO, CID_OTHER_ONLINE_USER_INFO,
 * CID_OTHER_USER_STATUS_UPDATE, CID_OTHER_USER_CNT_UPDATE, and the presence
 * query CID_BUDDY_LIST_USERS_STATUS_REQUEST (answered from the full table).
 */
import { Cid, encodeBody } from '../../proto/commands.ts';
import { encodePdu } from '../../proto/header.ts';
import { decodeOrNull, type Handler } from './types.ts';

const USER_STATUS_ONLINE = 1;
const USER_STATUS_OFFLINE = 2;
const USER_CNT_INC = 1;
const USER_CNT_DEC = 2;

export const onMsgServInfo: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_OTHER_MSG_SERV_INFO, pdu);
  if (!m) return;
  if (m.hostName === '') {
    from.log.warn('server info without a server id (host_name); ignored');
    return;
  }
  const stale = ctx.presence.register(from.id, {
    serverId: m.hostName,
    ip1: m.ip1,
    ip2: m.ip2,
    port: m.port,
    maxConnCnt: m.maxConnCnt,
    curConnCnt: m.curConnCnt,
  });
  from.serverId = m.hostName;
  from.log.info({ serverId: m.hostName, ip1: m.ip1, ip2: m.ip2, port: m.port, max: m.maxConnCnt, cur: m.curConnCnt }, 'access server registered');
  // The same server reconnected before its old link timed out: the old link is stale.
  if (stale !== undefined) ctx.dropLink(stale, `server ${m.hostName} registered again on link ${from.id}`);
};

export const onOnlineUserInfo: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_OTHER_ONLINE_USER_INFO, pdu);
  if (!m) return;
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
  if (!m) return;
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
};

export const onUserCntUpdate: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_OTHER_USER_CNT_UPDATE, pdu);
  if (!m) return;
  if (!ctx.presence.server(from.id)) {
    from.log.debug('count update before registration; ignored');
    return;
  }
  if (m.userAction === USER_CNT_INC) ctx.presence.adjustCount(from.id, 1);
  else if (m.userAction === USER_CNT_DEC) ctx.presence.adjustCount(from.id, -1);
  else from.log.warn({ action: m.userAction }, 'unknown count update action; ignored');
};

/** Online when the user has any connection anywhere; answered with seq and attach_data echoed. */
export const onUsersStatusRequest: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, pdu);
  if (!m) return;
  const body = encodeBody(Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE, {
    userId: m.userId,
    userStatList: m.userIdList.map((uid) => ({
      userId: uid,
      status: ctx.presence.isOnline(uid) ? USER_STATUS_ONLINE : USER_STATUS_OFFLINE,
    })),
    ...(m.attachData && m.attachData.length > 0 ? { attachData: m.attachData } : {}),
  });
  from.write(encodePdu({ commandId: Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE, seqNum: pdu.header.seqNum }, body));
};
