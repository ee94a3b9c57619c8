import net from 'node:net';
import type { Logger } from 'pino';
import { isAdmittedAddress } from '../common/cluster-auth.ts';
import { listen, settleWithin } from '../common/lifecycle.ts';
import { Cid } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import type { PushContext, Registry } from './handlers/types.ts';
import { PushLink } from './link.ts';

export interface ListenerOptions {
  host: string;
  port: number;
  trustLoopback: boolean;
  trustedPeers: net.BlockList | null;
  maxLinks: number;
  maxFrameLength: number;
  linkTimeoutMs: number;
  maxPendingPerLink: number;
  maxOutboundBytes: number;
}

/** The bytes one request may hold before its link stops being read (with maxPendingPerLink requests). */
const PENDING_BYTES_PER_LINK = 32 * 1024 * 1024;

/**
 * The listener for push links. Like TeamTalk's push_server: a link speaks
 * no handshake (it is admitted by address, or closed at once), heartbeats
 * are echoed back as they came, and a link silent for linkTimeoutMs is
 * dropped. Other PDUs go to the registry; an unknown command is counted
 * and ignored (TeamTalk closes the link).
 */
export class PushListener {
  private readonly server: net.Server;
  private readonly links = new Map<number, PushLink>();
  private readonly ticker: NodeJS.Timeout;
  private nextId = 1;
  private intake = true;

  constructor(
    private readonly opts: ListenerOptions,
    private readonly ctx: PushContext,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
    this.ticker = setInterval(() => this.tick(), Math.max(10, Math.min(1000, opts.linkTimeoutMs >> 2)));
    this.ticker.unref();
  }

  listen(): Promise<{ host: string; port: number }> {
    return listen(this.server, this.opts.host, this.opts.port);
  }

  /** Stops accepting links and reading requests; what was read goes on. */
  stopIntake(): void {
    if (!this.intake) return;
    this.intake = false;
    this.server.close();
    for (const link of this.links.values()) link.stopReading();
  }

  /** Ends every link (answers written so far are flushed), destroys those still open after `graceMs`. */
  async close(graceMs: number): Promise<void> {
    this.stopIntake();
    clearInterval(this.ticker);
    const open = [...this.links.values()];
    for (const link of open) link.end('shutting down', graceMs);
    await settleWithin(Promise.all(open.map((l) => l.whenClosed())), graceMs);
    this.destroy();
  }

  /** Immediate: drops every link. */
  destroy(): void {
    this.intake = false;
    clearInterval(this.ticker);
    this.server.close();
    for (const link of this.links.values()) link.destroy('destroyed');
  }

  private accept(socket: net.Socket): void {
    const address = socket.remoteAddress ?? '';
    const peer = `${address}:${socket.remotePort}`;
    const why = !this.intake
      ? 'shutting down'
      : !isAdmittedAddress(address, this.opts.trustedPeers, { trustLoopback: this.opts.trustLoopback })
        ? 'address not trusted (PUSH_TRUSTED_PEERS)'
        : this.links.size >= this.opts.maxLinks
          ? `no room: ${this.links.size} links (PUSH_MAX_LINKS)`
          : null;
    if (why !== null) {
      this.ctx.stats.linksRefused++;
      this.log.warn({ peer, reason: why }, 'link refused');
      socket.destroy();
      return;
    }
    const id = this.nextId;
    this.nextId = this.nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextId + 1;
    const log = this.log.child({ link: id, peer });
    const link = new PushLink(
      socket,
      id,
      log,
      {
        maxFrameLength: this.opts.maxFrameLength,
        maxOutboundBytes: this.opts.maxOutboundBytes,
        drainTimeoutMs: this.opts.linkTimeoutMs,
        maxInFlight: this.opts.maxPendingPerLink,
        maxInFlightBytes: PENDING_BYTES_PER_LINK,
      },
      {
        onPdu: (l, pdu) => this.onPdu(l, pdu),
        onClose: (l, reason) => {
          this.links.delete(l.id);
          this.ctx.stats.links = this.links.size;
          l.log.info({ reason, pending: l.pending }, 'link closed');
        },
      },
    );
    this.links.set(id, link);
    this.ctx.stats.links = this.links.size;
    this.ctx.stats.linksAccepted++;
    log.info('link open');
  }

  private onPdu(link: PushLink, pdu: Pdu): void {
    const { commandId, seqNum } = pdu.header;
    if (commandId === Cid.CID_OTHER_HEARTBEAT) {
      link.write(encodePdu({ commandId, seqNum, flag: pdu.header.flag }, pdu.body));
      return;
    }
    const handler = this.registry.get(commandId);
    if (!handler) {
      this.ctx.stats.unknownCommands++;
      link.log.warn({ commandId, seqNum }, 'unknown command; ignored');
      return;
    }
    try {
      handler(this.ctx, link, pdu);
    } catch (err) {
      link.log.error({ err, commandId, seqNum }, 'handler failed');
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const link of this.links.values()) {
      const silent = link.silentFor(now);
      if (silent > this.opts.linkTimeoutMs) {
        link.log.warn({ silentMs: silent }, 'link silent too long; closing');
        link.destroy(`silent for ${silent} ms`);
      }
    }
  }
}
