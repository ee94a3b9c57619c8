import type net from 'node:net';
import type { Logger } from 'pino';
import type { Admission } from '../common/cluster-auth.ts';
import { PduLink, type PduLinkOptions } from '../common/pdu-link.ts';
import type { Pdu } from '../proto/header.ts';

export interface LinkOptions extends PduLinkOptions {
  /** Requests of this link not yet answered; reading pauses at the cap. */
  maxInFlight: number;
}

export interface LinkHooks {
  /** A PDU of an admitted link. */
  onPdu(link: Link, pdu: Pdu): void;
  /** The link was admitted: null takes it, a reason refuses it (no room). */
  onAdmit(link: Link, admission: Admission): string | null;
  onClose(link: Link): void;
}

/**
 * One access-server link at db-proxy: a PduLink whose requests in flight
 * (count and bytes) pause its reading at the caps.
 */
export class Link extends PduLink {
  constructor(
    socket: net.Socket,
    readonly uuid: number,
    log: Logger,
    opts: LinkOptions,
    private readonly hooks: LinkHooks,
  ) {
    super(socket, log, opts);
  }

  get pending(): number {
    return this.conn.inFlight;
  }

  /** Counts `n` requests (of `bytes` in all) handed on for this link. */
  began(n = 1, bytes = 0): void {
    this.conn.began(bytes, n);
  }

  /** Counts `n` requests (of `bytes`) of this link as answered (or refused). */
  finished(n = 1, bytes = 0): void {
    this.conn.finished(bytes, n);
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
