import type net from 'node:net';
import type { Logger } from 'pino';
import { PduLink, type PduLinkOptions } from '../common/pdu-link.ts';
import type { Pdu } from '../proto/header.ts';

export interface LinkOptions extends PduLinkOptions {
  /** Requests of this link not yet answered; reading pauses at the cap. */
  maxInFlight: number;
}

/**
 * One access-server link at db-proxy: a PduLink that also keeps the
 * in-flight count that pauses reading.
 */
export class Link extends PduLink {
  private inFlight = 0;
  private paused = false;

  constructor(
    socket: net.Socket,
    readonly uuid: number,
    log: Logger,
    private readonly opts: LinkOptions,
    private readonly onPdu: (link: Link, pdu: Pdu) => void,
    private readonly onClose: (link: Link) => void,
  ) {
    super(socket, log, opts);
  }

  get pending(): number {
    return this.inFlight;
  }

  /** Counts `n` requests handed on for this link. */
  began(n = 1): void {
    this.inFlight += n;
    if (!this.paused && this.inFlight >= this.opts.maxInFlight) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Counts `n` requests of this link as answered (or refused). */
  finished(n = 1): void {
    this.inFlight -= n;
    if (this.paused && !this.readingStopped && this.inFlight <= this.opts.maxInFlight >> 1) {
      this.paused = false;
      this.socket.resume();
    }
  }

  protected onFrame(pdu: Pdu): void {
    this.onPdu(this, pdu);
  }

  protected onClosed(): void {
    this.onClose(this);
  }
}
