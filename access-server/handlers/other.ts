/**
 * What clients send besides the command families: CID_SWITCH_P2P_CMD, a
 * small command relayed between two users (e.g. "typing", shaking the
 * window). Heartbeats never get here: the connection echoes them.
 */
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { conversationKey } from '../conversation.ts';
import type { ClientHandler, HandlerEntry } from './types.ts';

/** Longest cmd_msg_data relayed; longer ones are dropped (the command has no answer). */
export const MAX_P2P_CMD_CHARS = 4096;

/**
 * Relays the command to the peer's connections and to the sender's other
 * connections, with from_user_id forced to the sender. The protocol has no
 * answer for it; a refused one is logged.
 */
const p2pCmd: ClientHandler = async (ctx, conn, req) => {
  const uid = conn.session!.uid;
  const m = req.message as unknown as IM.SwitchService.IMP2PCmdMsg;
  if (m.toUserId === 0 || m.toUserId === uid || m.cmdMsgData.length > MAX_P2P_CMD_CHARS) {
    conn.log.debug({ to: m.toUserId }, 'p2p command dropped');
    return;
  }
  const body = { fromUserId: uid, toUserId: m.toUserId, cmdMsgData: m.cmdMsgData };
  ctx.deliver([m.toUserId, uid], Cid.CID_SWITCH_P2P_CMD, body, { exceptConnId: conn.id, orderKey: conversationKey(uid, m.toUserId, false) });
};

export const handlers: ReadonlyArray<HandlerEntry> = [[Cid.CID_SWITCH_P2P_CMD, p2pCmd]];
