/**
 * TeamTalk's route protocol between msg_servers: the commands its
 * route_server passes from one msg_server to the others unwrapped, and whom
 * each is for on the receiving msg_server (mogujie/TeamTalk
 * server/src/route_server/RouteConn.cpp forwards them; msg_server's
 * RouteServConn.cpp says who gets each). A TeamTalk msg_server knows none of
 * our CID_EXT_* commands, so this is what our route-server and access servers
 * speak with one, and how they read what one sends.
 */
import { Cid, decodeBody } from './commands.ts';
import { isGroupMsgType } from './conversation.ts';

/** Whom a routed command is for. */
export type RoutedRecipients =
  /** These users' connections. */
  | { users: readonly number[] }
  /** The members of a group, as the sender sees them (a group CID_MSG_DATA: each server asks db-proxy). */
  | { group: number; asUser: number }
  /** Every user of every server (CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY). */
  | { everyone: true };

/** Commands TeamTalk's route_server passes on to every other msg_server as they came. */
export const TEAMTALK_ROUTED: ReadonlySet<number> = new Set([
  Cid.CID_MSG_DATA,
  Cid.CID_MSG_READ_NOTIFY,
  Cid.CID_SWITCH_P2P_CMD,
  Cid.CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY,
  Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY,
  Cid.CID_GROUP_CHANGE_MEMBER_NOTIFY,
  Cid.CID_FILE_NOTIFY,
]);

/**
 * Routed commands TeamTalk's route_server also passes back to the msg_server
 * that sent them (it broadcasts them to every link, its sender's included):
 * the sender delivers them when they come back, not before.
 */
export const TEAMTALK_ECHOED: ReadonlySet<number> = new Set([Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY]);

/** Every command TeamTalk's route_server serves; it logs "wrong cmd id" for anything else. */
export const TEAMTALK_ROUTE_SERVER_COMMANDS: ReadonlySet<number> = new Set([
  Cid.CID_OTHER_HEARTBEAT,
  Cid.CID_OTHER_ONLINE_USER_INFO,
  Cid.CID_OTHER_USER_STATUS_UPDATE,
  Cid.CID_OTHER_ROLE_SET,
  Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST,
  Cid.CID_OTHER_SERVER_KICK_USER,
  ...TEAMTALK_ROUTED,
]);

/**
 * Whom routed command `commandId` with `body` is for, as a TeamTalk
 * msg_server delivers it; null for a command that is not routed. Throws on
 * a body that does not decode.
 */
export function routedRecipients(commandId: number, body: Uint8Array): RoutedRecipients | null {
  switch (commandId) {
    case Cid.CID_MSG_DATA: {
      const m = decodeBody(Cid.CID_MSG_DATA, body);
      if (isGroupMsgType(m.msgType)) return { group: m.toSessionId, asUser: m.fromUserId };
      return { users: [m.toSessionId, m.fromUserId] };
    }
    case Cid.CID_MSG_READ_NOTIFY:
      return { users: [decodeBody(Cid.CID_MSG_READ_NOTIFY, body).userId] };
    case Cid.CID_SWITCH_P2P_CMD: {
      const m = decodeBody(Cid.CID_SWITCH_P2P_CMD, body);
      return { users: [m.toUserId, m.fromUserId] };
    }
    case Cid.CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY:
      return { users: [decodeBody(Cid.CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY, body).userId] };
    case Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY:
      decodeBody(Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, body);
      return { everyone: true };
    case Cid.CID_GROUP_CHANGE_MEMBER_NOTIFY: {
      const m = decodeBody(Cid.CID_GROUP_CHANGE_MEMBER_NOTIFY, body);
      return { users: [...m.chgUserIdList, ...m.curUserIdList] };
    }
    case Cid.CID_FILE_NOTIFY:
      return { users: [decodeBody(Cid.CID_FILE_NOTIFY, body).toUserId] };
    default:
      return null;
  }
}
