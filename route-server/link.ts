import type net from 'node:net';
import type { Logger } from 'pino';
import { PduLink, type PduLinkOptions } from '../common/pdu-link.ts';
import type { Pdu } from '../proto/header.ts';

export type LinkOptions = PduLinkOptions;

/** One access-server link at a route-server: a PduLink that learns its server id on registration. */
export class RouteLink extends PduLink {
  /** The server id (`host_name`) once the link has registered. */
  serverId: string | null = null;

  constructor(
    socket: net.Socket,
    readonly id: number,
    log: Logger,
    opts: LinkOptions,
    private readonly onPdu: (link: RouteLink, pdu: Pdu) => void,
    private readonly onClose: (link: RouteLink) => void,
  ) {
    super(socket, log, opts);
  }

  protected onFrame(pdu: Pdu): void {
    this.onPdu(this, pdu);
  }

  protected onClosed(): void {
    this.onClose(this);
  }
}
