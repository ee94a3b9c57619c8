import { Cid } from '../../proto/commands.ts';
import { TEAMTALK_ROUTED } from '../../proto/teamtalk-route.ts';
import { acking, onMsgData, onRouteAck, onRouteToUsers } from './delivery.ts';
import { onClassicBroadcast, onRoleSet, onServerKickUser } from './classic.ts';
import { onKickConn } from './kick.ts';
import { onMsgServInfo, onOnlineUserInfo, onUserCntUpdate, onUserStatusUpdate, onUsersStatusRequest } from './presence.ts';
import type { Handler, Registry } from './types.ts';

/** Every command route-server serves (heartbeats are handled by the server itself). */
export const registry: Registry = new Map<number, Handler>([
  [Cid.CID_OTHER_MSG_SERV_INFO, onMsgServInfo],
  [Cid.CID_OTHER_ONLINE_USER_INFO, onOnlineUserInfo],
  [Cid.CID_OTHER_USER_STATUS_UPDATE, onUserStatusUpdate],
  [Cid.CID_OTHER_USER_CNT_UPDATE, onUserCntUpdate],
  [Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, onUsersStatusRequest],
  [Cid.CID_MSG_DATA, acking(onMsgData)],
  [Cid.CID_EXT_ROUTE_TO_USERS, acking(onRouteToUsers)],
  [Cid.CID_EXT_KICK_CONN, onKickConn],
  [Cid.CID_EXT_ROUTE_ACK, onRouteAck],
  // TeamTalk's route protocol (its msg_servers).
  [Cid.CID_OTHER_ROLE_SET, onRoleSet],
  [Cid.CID_OTHER_SERVER_KICK_USER, onServerKickUser],
  ...[...TEAMTALK_ROUTED]
    .filter((cid) => cid !== Cid.CID_MSG_DATA)
    .map((cid): [number, Handler] => [cid, onClassicBroadcast]),
]);
