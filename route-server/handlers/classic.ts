/**
 * TeamTalk's route protocol, for a cluster mixing TeamTalk's C++ msg_servers
 * ("classic" links) with our access servers:
 * - what TeamTalk's route_server passes on unwrapped (proto/teamtalk-route.ts)
 *   comes from a msg_server and goes, as it came, to the servers holding
 *   its recipients (every server for a group message or a signature change:
 *   each asks db-proxy for the members itself);
 * - CID_OTHER_SERVER_KICK_USER: a login on one server kicks the user's older
 *   session of the same kind elsewhere. A msg_server's kick goes to every
 *   other server holding the user; one of our access servers' goes to the
 *   msg_servers only (ours exclude each other through Redis);
 * - CID_OTHER_ROLE_SET (which route_server a msg_server sends to) changes
 *   nothing here: every route-server routes whatever it is sent.
 * Our access servers send those deliveries wrapped in CID_EXT_ROUTE_TO_USERS;
 * delivery.ts unwraps them for msg_servers.
 */
import { Cid } from '../../proto/commands.ts';
import { routedRecipients, type RoutedRecipients } from '../../proto/teamtalk-route.ts';
import type { RouteLink } from '../link.ts';
import { reframe, send } from './send.ts';
import { decodeOrNull, type Handler, type RouteContext } from './types.ts';

/** Link ids of the servers holding at least one of `users`. */
export function holdersOf(ctx: RouteContext, users: Iterable<number>): Set<number> {
  const ids = new Set<number>();
  for (const uid of users) for (const id of ctx.presence.holders(uid)) ids.add(id);
  return ids;
}

/** A routed command of a TeamTalk msg_server (group CID_MSG_DATA included, from onMsgData). */
export const onClassicBroadcast: Handler = (ctx, from, pdu) => {
  const { commandId, seqNum } = pdu.header;
  if (from.kind !== 'classic') {
    // Our access servers wrap these in CID_EXT_ROUTE_TO_USERS.
    ctx.stats.unknownCommands++;
    from.log.warn({ commandId, seqNum }, 'TeamTalk route command from an access server of ours; ignored');
    return;
  }
  let recipients: RoutedRecipients | null;
  try {
    recipients = routedRecipients(commandId, pdu.body);
  } catch (err) {
    ctx.stats.badBodies++;
    from.log.warn({ err, commandId, seqNum }, 'undecodable body; ignored');
    return;
  }
  if (!recipients) return;
  const bytes = reframe(pdu);
  const fromId = from.id;
  const route = (): boolean => {
    const targets = 'users' in recipients ? holdersOf(ctx, recipients.users) : new Set(ctx.peerLinks());
    // TeamTalk's route_server sends a signature change back to its sender too: that is how its users learn of it.
    if (commandId !== Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY) targets.delete(fromId);
    for (const id of targets) send(ctx, id, bytes);
    return targets.size > 0;
  };
  if (!route() && !('users' in recipients && ctx.hold?.(route, bytes.length))) ctx.stats.unrouted++;
};

export const onServerKickUser: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_OTHER_SERVER_KICK_USER, pdu);
  if (!m) return;
  if (from.kind === 'ours' && from.serverId === null) {
    from.log.warn('server kick before registration; ignored');
    return;
  }
  const bytes = reframe(pdu);
  let sent = 0;
  for (const id of ctx.presence.holders(m.userId)) {
    if (id === from.id || (from.kind !== 'classic' && !isClassic(ctx.link(id)))) continue;
    if (send(ctx, id, bytes)) sent++;
  }
  from.log.info({ uid: m.userId, clientType: m.clientType, reason: m.reason, servers: sent }, 'server kick passed on');
};

export const onRoleSet: Handler = (ctx, from, pdu) => {
  const m = decodeOrNull(ctx, from, Cid.CID_OTHER_ROLE_SET, pdu);
  if (m) from.log.debug({ master: m.master }, 'role set');
};

export function isClassic(link: RouteLink | undefined): boolean {
  return link?.kind === 'classic';
}
