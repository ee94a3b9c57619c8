/**
 * Deliveries between access servers: a 1:1 CID_MSG_DATA goes unchanged to the
 * servers holding its receiver or its sender (the sender's other devices);
 * CID_EXT_ROUTE_TO_USERS goes to each server holding at least one recipient,
 * its user list narrowed to that server's recipients. Never back to the
 * origin link, never to a server that holds none of the recipients. In a
 * route-server's first seconds a delivery with no recipient yet is held and
 * retried while access servers re-register (held.ts).
 */
import { Cid, encodeBody } from '../../proto/commands.ts';
import { isGroupMsgType } from '../../proto/conversation.ts';
import { encodePdu, type Pdu } from '../../proto/header.ts';
import type { RouteLink } from '../link.ts';
import { decodeOrNull, type Handler, type RouteContext } from './types.ts';

export const onMsgData: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_MSG_DATA, pdu);
  if (!m) return;
  if (isGroupMsgType(m.msgType)) {
    // to_session_id is a group id here: routing it as a user id would reach the wrong people.
    ctx.stats.unrouted++;
    from.log.warn({ from: m.fromUserId, group: m.toSessionId }, 'group message sent unwrapped; dropped (use CID_EXT_ROUTE_TO_USERS)');
    return;
  }
  const fromId = from.id;
  const bytes = reframe(pdu);
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

export const onRouteToUsers: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_EXT_ROUTE_TO_USERS, pdu);
  if (!m) return;
  const fromId = from.id;
  const originServer = m.originServer !== '' ? m.originServer : (from.serverId ?? '');
  const seqNum = pdu.header.seqNum;
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

/** The PDU as it came in: same header fields, same body. */
export function reframe(pdu: Pdu): Uint8Array {
  const h = pdu.header;
  return encodePdu(
    { commandId: h.commandId, serviceId: h.serviceId, seqNum: h.seqNum, flag: h.flag, version: h.version, reserved: h.reserved },
    pdu.body,
  );
}

/** Writes to link `id` if it is still open; counts what was written. */
export function send(ctx: RouteContext, id: number, bytes: Uint8Array): RouteLink | undefined {
  const link = ctx.link(id);
  if (!link || link.closed) return undefined;
  if (link.write(bytes)) ctx.stats.forwarded++;
  return link;
}
