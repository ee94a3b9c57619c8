/**
 * Deliveries between access servers: a 1:1 CID_MSG_DATA goes unchanged to the
 * servers holding its receiver or its sender (the sender's other devices);
 * CID_EXT_ROUTE_TO_USERS goes to each server holding at least one recipient,
 * its user list narrowed to that server's recipients (to a TeamTalk
 * msg_server, unwrapped, if it is a command TeamTalk routes: classic.ts). Never back to the
 * origin link, never to a server that holds none of the recipients. In a
 * route-server's first seconds a delivery with no recipient yet is held and
 * retried while access servers re-register (held.ts). A delivery numbered by
 * a peer that speaks acks is acked once written to its targets, found to
 * have none, or held.
 */
import { Cid, encodeBody } from '../../proto/commands.ts';
import { isGroupMsgType } from '../../proto/conversation.ts';
import { encodePdu, type Pdu } from '../../proto/header.ts';
import { TEAMTALK_ROUTED } from '../../proto/teamtalk-route.ts';
import type { RouteLink } from '../link.ts';
import { isClassic, onClassicBroadcast } from './classic.ts';
import { reframe, send } from './send.ts';
import { decodeOrNull, type Handler } from './types.ts';

export const onMsgData: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_MSG_DATA, pdu);
  if (!m) return;
  if (isGroupMsgType(m.msgType)) {
    // A TeamTalk msg_server sends group messages bare; every server looks the members up itself.
    if (from.kind === 'classic') return onClassicBroadcast(ctx, from, pdu);
    // to_session_id is a group id here: routing it as a user id would reach the wrong people.
    ctx.stats.unrouted++;
    from.log.warn({ from: m.fromUserId, group: m.toSessionId }, 'group message sent unwrapped; dropped (use CID_EXT_ROUTE_TO_USERS)');
    return;
  }
  const fromId = from.id;
  const bytes = reframe(pdu, forwardedSeq(from, pdu));
  const route = (): boolean => {
    const targets = new Set<number>();
    for (const id of ctx.presence.holders(m.toSessionId)) targets.add(id);
    for (const id of ctx.presence.holders(m.fromUserId)) targets.add(id);
    targets.delete(fromId);
    for (const id of targets) send(ctx, id, bytes);
    return targets.size > 0;
  };
  if (!route() && !ctx.hold?.(route, bytes.length)) ctx.stats.unrouted++;
};

/**
 * CID_EXT_ROUTE_ACK with no seqs: the access server speaks delivery acks;
 * answered in kind once per link. Only from a registered link.
 */
export const onRouteAck: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_EXT_ROUTE_ACK, pdu);
  if (!m || m.seqNums.length > 0 || from.acksDeliveries) return;
  if (from.serverId === null) {
    from.log.warn('delivery ack announcement before registration; ignored');
    return;
  }
  from.acksDeliveries = true;
  from.write(encodePdu({ commandId: Cid.CID_EXT_ROUTE_ACK }, encodeBody(Cid.CID_EXT_ROUTE_ACK, { seqNums: [] })));
};

export const onRouteToUsers: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_EXT_ROUTE_TO_USERS, pdu);
  if (!m) return;
  const fromId = from.id;
  const originServer = m.originServer !== '' ? m.originServer : (from.serverId ?? '');
  const seqNum = forwardedSeq(from, pdu);
  const route = (): boolean => {
    const perLink = new Map<number, number[]>();
    const seen = new Set<number>();
    for (const uid of m.userIds) {
      if (seen.has(uid)) continue;
      seen.add(uid);
      for (const id of ctx.presence.holders(uid)) {
        if (id === fromId) continue;
        let list = perLink.get(id);
        if (!list) perLink.set(id, (list = []));
        list.push(uid);
      }
    }
    for (const [id, userIds] of perLink) {
      const target = ctx.link(id);
      if (isClassic(target)) {
        // A TeamTalk msg_server gets what TeamTalk's route_server would send it, unwrapped; nothing else.
        if (TEAMTALK_ROUTED.has(m.commandId)) send(ctx, id, encodePdu({ commandId: m.commandId }, m.pduBody));
        continue;
      }
      const body = encodeBody(Cid.CID_EXT_ROUTE_TO_USERS, {
        userIds,
        commandId: m.commandId,
        pduBody: m.pduBody,
        ...(originServer !== '' ? { originServer } : {}),
      });
      send(ctx, id, encodePdu({ commandId: Cid.CID_EXT_ROUTE_TO_USERS, seqNum }, body));
    }
    return perLink.size > 0;
  };
  if (!route() && !ctx.hold?.(route, pdu.body.length)) ctx.stats.unrouted++;
};

/**
 * Handler `h` of a delivery, then its ack to the peer (whatever became of
 * it: a delivery that cannot be routed would fare no better sent again).
 */
export function acking(h: Handler): Handler {
  return (ctx, from, pdu) => {
    try {
      h(ctx, from, pdu);
    } finally {
      from.ackDelivery(pdu.header.seqNum);
    }
  };
}

/** The seq a delivery goes on with: the sender's own, except the numbering of a peer that speaks acks (meaningless to others). */
function forwardedSeq(from: RouteLink, pdu: Pdu): number {
  return from.acksDeliveries ? 0 : pdu.header.seqNum;
}
