import type net from 'node:net';
import type { Logger } from 'pino';
import type { Admission } from '../common/cluster-auth.ts';
import { PduLink, type PduLinkOptions } from '../common/pdu-link.ts';
import { Cid, encodeBody } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';

export type LinkOptions = PduLinkOptions;

export interface RouteLinkHooks {
  /** A PDU of an admitted link. */
  onPdu(link: RouteLink, pdu: Pdu): void;
  /** The link was admitted: null takes it, a reason refuses it (no room). */
  onAdmit(link: RouteLink, admission: Admission): string | null;
  onClose(link: RouteLink): void;
}

/**
 * The ticker that keeps a route-server listener's links alive: it runs
 * `tick` often enough that a heartbeat is at most half a heartbeat interval
 * late and a silent link is dropped at most a quarter of the link timeout
 * late (between 10 ms and 1 s), and never keeps the process up by itself.
 */
export function linkTicker(heartbeatIntervalMs: number, linkTimeoutMs: number, tick: () => void): NodeJS.Timeout {
  const period = Math.max(10, Math.min(1000, heartbeatIntervalMs >> 1, linkTimeoutMs >> 2));
  const ticker = setInterval(tick, period);
  ticker.unref();
  return ticker;
}

/**
 * The route protocol a peer speaks: "ours" (an access server of ours: it
 * registers with CID_OTHER_MSG_SERV_INFO first and understands the CID_EXT_*
 * commands), "classic" (TeamTalk's C++ msg_server: it never registers here
 * and knows only TeamTalk's commands), or not known yet.
 */
export type PeerKind = 'unknown' | 'ours' | 'classic';

/** One access-server link at a route-server: a PduLink that learns its server id on registration. */
export class RouteLink extends PduLink {
  /** The server id (`host_name`) once the link has registered (never, for a TeamTalk msg_server). */
  serverId: string | null = null;
  kind: PeerKind = 'unknown';
  /** The peer announced delivery acks (CID_EXT_ROUTE_ACK): its numbered deliveries are acked once passed on. */
  acksDeliveries = false;
  private acks: number[] = [];

  constructor(
    socket: net.Socket,
    readonly id: number,
    log: Logger,
    opts: LinkOptions,
    private readonly hooks: RouteLinkHooks,
  ) {
    super(socket, log, opts);
  }

  /**
   * Acks delivery `seq` of this peer (nothing when it does not speak acks,
   * or seq is 0); the acks of one turn of the event loop go in one PDU.
   */
  ackDelivery(seq: number): void {
    if (!this.acksDeliveries || seq === 0) return;
    if (this.acks.length === 0) setImmediate(() => this.flushAcks());
    this.acks.push(seq);
  }

  private flushAcks(): void {
    const seqNums = this.acks;
    this.acks = [];
    if (!this.closed && seqNums.length > 0) this.write(encodePdu({ commandId: Cid.CID_EXT_ROUTE_ACK }, encodeBody(Cid.CID_EXT_ROUTE_ACK, { seqNums })));
  }

  /** Milliseconds since the peer last sent a whole frame. */
  silentFor(now = Date.now()): number {
    return this.conn.silentFor(now);
  }

  protected override onAdmitted(admission: Admission): string | null {
    return this.hooks.onAdmit(this, admission);
  }

  protected onFrame(pdu: Pdu): void {
    this.hooks.onPdu(this, pdu);
  }

  protected onClosed(): void {
    this.hooks.onClose(this);
  }
}
