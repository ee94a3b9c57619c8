/**
 * CID_EXT_KICK_CONN: goes unchanged to the one access server whose server id
 * (`host_name`) the kick names, and nowhere else. The holder checks that the
 * connection is still logged in as that user before kicking it.
 */
import { Cid } from '../../proto/commands.ts';
import { reframe, send } from './send.ts';
import { decodeOrNull, type Handler } from './types.ts';

export const onKickConn: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_EXT_KICK_CONN, pdu);
  if (!m) return;
  const target = ctx.presence.linkOfServer(m.serverId);
  const info = { uid: m.userId, serverId: m.serverId, connId: m.connId, reason: m.reason };
  if (target === undefined || !send(ctx, target, reframe(pdu))) {
    // That server is gone, and its connections with it.
    ctx.stats.unrouted++;
    from.log.info(info, 'kick for a server not connected here; dropped');
    return;
  }
  from.log.info(info, 'kick forwarded');
};
