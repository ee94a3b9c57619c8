/**
 * Which protobuf message each command id carries, and which command answers
 * it. Sources: the msg/db-proxy/route/login/file servers' handlers and the
 * cmd-id notes next to each message. Every command of the protocol carries
 * exactly one message type (empty ones included), so no entry is `null`;
 * the type still allows `null` for a command without a body.
 */
import { Cid, type CidValue } from './cid.ts';
import { IM, type MessageClass } from './messages.ts';

/** One raw table row; name, id and service id are filled in by commands.ts. */
export interface CommandRow<M extends MessageClass | null = MessageClass | null> {
  /** Generated class of the body, or null when the command has no body. */
  readonly message: M;
  /** Command that answers this one, or null (notifications, responses, fire-and-forget). */
  readonly responseId: number | null;
  /** Anything a peer implementation must know beyond message/response. */
  readonly note?: string;
}

function row<M extends MessageClass | null>(message: M, responseId: number | null = null, note?: string): CommandRow<M> {
  return note === undefined ? { message, responseId } : { message, responseId, note };
}

const { Login: L, Buddy: B, Message: M, Group: G, File: F, SwitchService: S, Other: O, Server: V, Ext: X } = IM;

export const COMMAND_TABLE = {
  // --- login (0x01) ---
  [Cid.CID_LOGIN_REQ_MSGSERVER]: row(L.IMMsgServReq, Cid.CID_LOGIN_RES_MSGSERVER, 'client -> login server'),
  [Cid.CID_LOGIN_RES_MSGSERVER]: row(L.IMMsgServRsp),
  [Cid.CID_LOGIN_REQ_USERLOGIN]: row(L.IMLoginReq, Cid.CID_LOGIN_RES_USERLOGIN,
    'msg server checks the password with CID_OTHER_VALIDATE_REQ to the db proxy'),
  [Cid.CID_LOGIN_RES_USERLOGIN]: row(L.IMLoginRes),
  [Cid.CID_LOGIN_REQ_LOGINOUT]: row(L.IMLogoutReq, Cid.CID_LOGIN_RES_LOGINOUT),
  [Cid.CID_LOGIN_RES_LOGINOUT]: row(L.IMLogoutRsp),
  [Cid.CID_LOGIN_KICK_USER]: row(L.IMKickUser),
  [Cid.CID_LOGIN_REQ_DEVICETOKEN]: row(L.IMDeviceTokenReq, Cid.CID_LOGIN_RES_DEVICETOKEN),
  [Cid.CID_LOGIN_RES_DEVICETOKEN]: row(L.IMDeviceTokenRsp),
  [Cid.CID_LOGIN_REQ_KICKPCCLIENT]: row(L.IMKickPCClientReq, Cid.CID_LOGIN_RES_KICKPCCLIENT),
  [Cid.CID_LOGIN_RES_KICKPCCLIENT]: row(L.IMKickPCClientRsp),
  [Cid.CID_LOGIN_REQ_PUSH_SHIELD]: row(L.IMPushShieldReq, Cid.CID_LOGIN_RES_PUSH_SHIELD),
  [Cid.CID_LOGIN_RES_PUSH_SHIELD]: row(L.IMPushShieldRsp),
  [Cid.CID_LOGIN_REQ_QUERY_PUSH_SHIELD]: row(L.IMQueryPushShieldReq, Cid.CID_LOGIN_RES_QUERY_PUSH_SHIELD),
  [Cid.CID_LOGIN_RES_QUERY_PUSH_SHIELD]: row(L.IMQueryPushShieldRsp),

  // --- buddy list (0x02) ---
  [Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST]: row(B.IMRecentContactSessionReq,
    Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE),
  [Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE]: row(B.IMRecentContactSessionRsp),
  [Cid.CID_BUDDY_LIST_STATUS_NOTIFY]: row(B.IMUserStatNotify),
  [Cid.CID_BUDDY_LIST_USER_INFO_REQUEST]: row(B.IMUsersInfoReq, Cid.CID_BUDDY_LIST_USER_INFO_RESPONSE),
  [Cid.CID_BUDDY_LIST_USER_INFO_RESPONSE]: row(B.IMUsersInfoRsp),
  [Cid.CID_BUDDY_LIST_REMOVE_SESSION_REQ]: row(B.IMRemoveSessionReq, Cid.CID_BUDDY_LIST_REMOVE_SESSION_RES),
  [Cid.CID_BUDDY_LIST_REMOVE_SESSION_RES]: row(B.IMRemoveSessionRsp),
  [Cid.CID_BUDDY_LIST_ALL_USER_REQUEST]: row(B.IMAllUserReq, Cid.CID_BUDDY_LIST_ALL_USER_RESPONSE),
  [Cid.CID_BUDDY_LIST_ALL_USER_RESPONSE]: row(B.IMAllUserRsp),
  [Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST]: row(B.IMUsersStatReq, Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE,
    'answered by the route server, not the db proxy'),
  [Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE]: row(B.IMUsersStatRsp),
  [Cid.CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST]: row(B.IMChangeAvatarReq, Cid.CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE),
  [Cid.CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE]: row(B.IMChangeAvatarRsp),
  [Cid.CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY]: row(B.IMPCLoginStatusNotify),
  [Cid.CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY]: row(B.IMRemoveSessionNotify),
  [Cid.CID_BUDDY_LIST_DEPARTMENT_REQUEST]: row(B.IMDepartmentReq, Cid.CID_BUDDY_LIST_DEPARTMENT_RESPONSE),
  [Cid.CID_BUDDY_LIST_DEPARTMENT_RESPONSE]: row(B.IMDepartmentRsp),
  [Cid.CID_BUDDY_LIST_AVATAR_CHANGED_NOTIFY]: row(B.IMAvatarChangedNotify),
  [Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST]: row(B.IMChangeSignInfoReq, Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE),
  [Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE]: row(B.IMChangeSignInfoRsp),
  [Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY]: row(B.IMSignInfoChangedNotify),

  // --- messages (0x03) ---
  [Cid.CID_MSG_DATA]: row(M.IMMsgData, Cid.CID_MSG_DATA_ACK,
    'client gets CID_MSG_DATA_ACK; the db proxy itself answers with CID_MSG_DATA (same body, msg_id assigned)'),
  [Cid.CID_MSG_DATA_ACK]: row(M.IMMsgDataAck),
  [Cid.CID_MSG_READ_ACK]: row(M.IMMsgDataReadAck, null,
    'no answer; the server clears the unread count and sends CID_MSG_READ_NOTIFY to the other devices'),
  [Cid.CID_MSG_READ_NOTIFY]: row(M.IMMsgDataReadNotify),
  [Cid.CID_MSG_TIME_REQUEST]: row(M.IMClientTimeReq, Cid.CID_MSG_TIME_RESPONSE),
  [Cid.CID_MSG_TIME_RESPONSE]: row(M.IMClientTimeRsp),
  [Cid.CID_MSG_UNREAD_CNT_REQUEST]: row(M.IMUnreadMsgCntReq, Cid.CID_MSG_UNREAD_CNT_RESPONSE),
  [Cid.CID_MSG_UNREAD_CNT_RESPONSE]: row(M.IMUnreadMsgCntRsp),
  [Cid.CID_MSG_LIST_REQUEST]: row(M.IMGetMsgListReq, Cid.CID_MSG_LIST_RESPONSE),
  [Cid.CID_MSG_LIST_RESPONSE]: row(M.IMGetMsgListRsp),
  [Cid.CID_MSG_GET_LATEST_MSG_ID_REQ]: row(M.IMGetLatestMsgIdReq, Cid.CID_MSG_GET_LATEST_MSG_ID_RSP),
  [Cid.CID_MSG_GET_LATEST_MSG_ID_RSP]: row(M.IMGetLatestMsgIdRsp),
  [Cid.CID_MSG_GET_BY_MSG_ID_REQ]: row(M.IMGetMsgByIdReq, Cid.CID_MSG_GET_BY_MSG_ID_RES),
  [Cid.CID_MSG_GET_BY_MSG_ID_RES]: row(M.IMGetMsgByIdRsp),

  // --- groups (0x04) ---
  [Cid.CID_GROUP_NORMAL_LIST_REQUEST]: row(G.IMNormalGroupListReq, Cid.CID_GROUP_NORMAL_LIST_RESPONSE),
  [Cid.CID_GROUP_NORMAL_LIST_RESPONSE]: row(G.IMNormalGroupListRsp),
  [Cid.CID_GROUP_INFO_REQUEST]: row(G.IMGroupInfoListReq, Cid.CID_GROUP_INFO_RESPONSE),
  [Cid.CID_GROUP_INFO_RESPONSE]: row(G.IMGroupInfoListRsp),
  [Cid.CID_GROUP_CREATE_REQUEST]: row(G.IMGroupCreateReq, Cid.CID_GROUP_CREATE_RESPONSE),
  [Cid.CID_GROUP_CREATE_RESPONSE]: row(G.IMGroupCreateRsp),
  [Cid.CID_GROUP_CHANGE_MEMBER_REQUEST]: row(G.IMGroupChangeMemberReq, Cid.CID_GROUP_CHANGE_MEMBER_RESPONSE),
  [Cid.CID_GROUP_CHANGE_MEMBER_RESPONSE]: row(G.IMGroupChangeMemberRsp),
  [Cid.CID_GROUP_SHIELD_GROUP_REQUEST]: row(G.IMGroupShieldReq, Cid.CID_GROUP_SHIELD_GROUP_RESPONSE),
  [Cid.CID_GROUP_SHIELD_GROUP_RESPONSE]: row(G.IMGroupShieldRsp),
  [Cid.CID_GROUP_CHANGE_MEMBER_NOTIFY]: row(G.IMGroupChangeMemberNotify),

  // --- files (0x05) ---
  [Cid.CID_FILE_LOGIN_REQ]: row(F.IMFileLoginReq, Cid.CID_FILE_LOGIN_RES, 'client -> file server'),
  [Cid.CID_FILE_LOGIN_RES]: row(F.IMFileLoginRsp),
  [Cid.CID_FILE_STATE]: row(F.IMFileState),
  [Cid.CID_FILE_PULL_DATA_REQ]: row(F.IMFilePullDataReq, Cid.CID_FILE_PULL_DATA_RSP),
  [Cid.CID_FILE_PULL_DATA_RSP]: row(F.IMFilePullDataRsp),
  [Cid.CID_FILE_REQUEST]: row(F.IMFileReq, Cid.CID_FILE_RESPONSE),
  [Cid.CID_FILE_RESPONSE]: row(F.IMFileRsp),
  [Cid.CID_FILE_NOTIFY]: row(F.IMFileNotify),
  [Cid.CID_FILE_HAS_OFFLINE_REQ]: row(F.IMFileHasOfflineReq, Cid.CID_FILE_HAS_OFFLINE_RES),
  [Cid.CID_FILE_HAS_OFFLINE_RES]: row(F.IMFileHasOfflineRsp),
  [Cid.CID_FILE_ADD_OFFLINE_REQ]: row(F.IMFileAddOfflineReq, null, 'no answer'),
  [Cid.CID_FILE_DEL_OFFLINE_REQ]: row(F.IMFileDelOfflineReq, null, 'no answer'),

  // --- switch service (0x06) ---
  [Cid.CID_SWITCH_P2P_CMD]: row(S.IMP2PCmdMsg, null, 'relayed to the peer unchanged'),

  // --- other / server-to-server (0x07) ---
  [Cid.CID_OTHER_HEARTBEAT]: row(O.IMHeartBeat, null, 'each side sends its own; not answered'),
  [Cid.CID_OTHER_STOP_RECV_PACKET]: row(V.IMStopReceivePacket),
  [Cid.CID_OTHER_VALIDATE_REQ]: row(V.IMValidateReq, Cid.CID_OTHER_VALIDATE_RSP),
  [Cid.CID_OTHER_VALIDATE_RSP]: row(V.IMValidateRsp),
  [Cid.CID_OTHER_GET_DEVICE_TOKEN_REQ]: row(V.IMGetDeviceTokenReq, Cid.CID_OTHER_GET_DEVICE_TOKEN_RSP),
  [Cid.CID_OTHER_GET_DEVICE_TOKEN_RSP]: row(V.IMGetDeviceTokenRsp),
  [Cid.CID_OTHER_ROLE_SET]: row(V.IMRoleSet),
  [Cid.CID_OTHER_ONLINE_USER_INFO]: row(V.IMOnlineUserInfo),
  [Cid.CID_OTHER_MSG_SERV_INFO]: row(V.IMMsgServInfo),
  [Cid.CID_OTHER_USER_STATUS_UPDATE]: row(V.IMUserStatusUpdate),
  [Cid.CID_OTHER_USER_CNT_UPDATE]: row(V.IMUserCntUpdate),
  [Cid.CID_OTHER_SERVER_KICK_USER]: row(V.IMServerKickUser),
  [Cid.CID_OTHER_LOGIN_STATUS_NOTIFY]: row(V.IMServerPCLoginStatusNotify),
  [Cid.CID_OTHER_PUSH_TO_USER_REQ]: row(V.IMPushToUserReq, Cid.CID_OTHER_PUSH_TO_USER_RSP),
  [Cid.CID_OTHER_PUSH_TO_USER_RSP]: row(V.IMPushToUserRsp),
  [Cid.CID_OTHER_GET_SHIELD_REQ]: row(V.IMGroupGetShieldReq, Cid.CID_OTHER_GET_SHIELD_RSP),
  [Cid.CID_OTHER_GET_SHIELD_RSP]: row(V.IMGroupGetShieldRsp),
  [Cid.CID_OTHER_FILE_TRANSFER_REQ]: row(V.IMFileTransferReq, Cid.CID_OTHER_FILE_TRANSFER_RSP),
  [Cid.CID_OTHER_FILE_TRANSFER_RSP]: row(V.IMFileTransferRsp),
  [Cid.CID_OTHER_FILE_SERVER_IP_REQ]: row(V.IMFileServerIPReq, Cid.CID_OTHER_FILE_SERVER_IP_RSP),
  [Cid.CID_OTHER_FILE_SERVER_IP_RSP]: row(V.IMFileServerIPRsp),
  // --- our extensions (0x0a, proto/IM.Ext.proto) ---
  [Cid.CID_EXT_ROUTE_TO_USERS]: row(X.IMRouteToUsers, null, 'access-server <-> route-server: deliver to these users'),
  [Cid.CID_EXT_KICK_CONN]: row(X.IMKickConn, null, 'access-server <-> route-server: kick one connection'),
  [Cid.CID_EXT_AUTH_HELLO]: row(X.IMAuthHello, Cid.CID_EXT_AUTH_CHALLENGE, 'peer -> db-proxy / route-server: first frame of a link'),
  [Cid.CID_EXT_AUTH_CHALLENGE]: row(X.IMAuthChallenge),
  [Cid.CID_EXT_AUTH_PROOF]: row(X.IMAuthProof, Cid.CID_EXT_AUTH_RESULT),
  [Cid.CID_EXT_AUTH_RESULT]: row(X.IMAuthResult),
  [Cid.CID_EXT_ROUTE_ACK]: row(X.IMRouteAck, null, 'access-server <-> route-server: deliveries taken'),
  [Cid.CID_EXT_CLIENT_CAPS_REQ]: row(X.IMClientCapsReq, Cid.CID_EXT_CLIENT_CAPS_RSP, 'client -> access-server, after login: behaviours beyond TeamTalk\'s'),
  [Cid.CID_EXT_CLIENT_CAPS_RSP]: row(X.IMClientCapsRsp),
} as const satisfies Record<CidValue, CommandRow>;

export type CommandTable = typeof COMMAND_TABLE;
