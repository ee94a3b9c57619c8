import type net from 'node:net';
import type { Logger } from 'pino';
import type { Admission } from '../common/cluster-auth.ts';
import { PduLink, type PduLinkOptions } from '../common/pdu-link.ts';
import type { Pdu } from '../proto/header.ts';

export type LinkOptions = PduLinkOptions;

export interface RouteLinkHooks {
  /** A PDU of an admitted link. */
  onPdu(link: RouteLink, pdu: Pdu): void;
  /** The link was admitted: null takes it, a reason refuses it (no room). */
  onAdmit(link: RouteLink, admission: Admission): string | null;
  onClose(link: RouteLink): void;
}

/** One access-server link at a route-server: a PduLink that learns its server id on registration. */
export class RouteLink extends PduLink {
  /** The server id (`host_name`) once the link has registered. */
  serverId: string | null = null;

  constructor(
    socket: net.Socket,
    readonly id: number,
    log: Logger,
    opts: LinkOptions,
    private readonly hooks: RouteLinkHooks,
  ) {
    super(socket, log, opts);
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
