import { decodeBody, type CommandMessages } from '../../proto/commands.ts';
import type { CidValue } from '../../proto/cid.ts';
import type { Pdu } from '../../proto/header.ts';
import type { RouteLink } from '../link.ts';
import type { PresenceTable } from '../presence.ts';

export interface RouteStats {
  /** Open access-server links. */
  links: number;
  /** PDUs read (heartbeats excluded). */
  pdusIn: number;
  /** PDUs written to access servers (deliveries and kicks, one per target). */
  forwarded: number;
  /** Deliveries and kicks with no server to go to. */
  unrouted: number;
  /** PDUs whose body could not be decoded. */
  badBodies: number;
  unknownCommands: number;
  /** Links dropped at accept or admission for want of room. */
  linksRefused: number;
  /** Registrations refused (a server id held by another live link, or not the one the link authenticated as). */
  registrationsRefused: number;
  /** Presence reports from a link that has not registered (ignored). */
  unregisteredReports: number;
  /** Open links of TeamTalk msg_servers. */
  classicLinks: number;
}

/** The role an access server authenticates with (common/cluster-auth.ts). */
export const ACCESS_ROLE = 'access-server';

/** What a handler can reach: the table, the links, the counters. */
export interface RouteContext {
  readonly presence: PresenceTable;
  /** A server id's live link is taken over by another process only after this much silence. */
  readonly takeoverSilenceMs: number;
  readonly stats: RouteStats;
  link(id: number): RouteLink | undefined;
  /** Links of every server that takes deliveries: our registered access servers and TeamTalk msg_servers. */
  peerLinks(): number[];
  /** Closes another link at once (a stale registration of the same server id). */
  dropLink(id: number, reason: string): void;
  /**
   * Keeps a delivery that has no recipient yet, to retry (`route` is true
   * once routed) while access servers re-register after a start; false when
   * it is not kept (window over, or full).
   */
  hold?(route: () => boolean, bytes: number): boolean;
}

/** Handles one PDU from link `from`; runs synchronously and never throws on bad input. */
export type Handler = (ctx: RouteContext, from: RouteLink, pdu: Pdu) => void;

/** Command id → handler. */
export type Registry = ReadonlyMap<number, Handler>;

/** The decoded body, or null (logged and counted) when it does not decode; the link stays open. */
export function decodeOrNull<C extends CidValue>(ctx: RouteContext, from: RouteLink, cid: C, pdu: Pdu): CommandMessages[C] | null {
  try {
    return decodeBody(cid, pdu.body);
  } catch (err) {
    ctx.stats.badBodies++;
    from.log.warn({ err, commandId: cid, seqNum: pdu.header.seqNum, bytes: pdu.body.length }, 'undecodable body; ignored');
    return null;
  }
}
