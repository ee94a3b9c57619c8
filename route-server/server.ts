import net from 'node:net';
import type { Logger } from 'pino';
import { Cid } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import type { Registry, RouteContext, RouteStats } from './handlers/types.ts';
import { linkTicker, RouteLink, type LinkOptions } from './link.ts';
import { HeldDeliveries } from './held.ts';
import { PresenceTable } from './presence.ts';
import { listen, settleWithin } from '../common/lifecycle.ts';
import { PendingLinks, type Admission } from '../common/cluster-auth.ts';

export interface LinkServerOptions extends LinkOptions {
  host: string;
  port: number;
  maxLinks: number;
  /** Idle period after which a heartbeat is sent (TeamTalk: 5 s). */
  heartbeatIntervalMs: number;
  /** Silence after which a link is dropped (TeamTalk: 30 s). */
  linkTimeoutMs: number;
  /** How long close() lets links end before destroying them. */
  shutdownGraceMs: number;
  /** After start, how long deliveries with no recipient yet are held while access servers re-register (default 3 s). */
  warmupHoldMs?: number;
}

const HEARTBEAT_PDU = encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT }, new Uint8Array(0));

/**
 * The listener for access-server links: accepts them, answers nothing but
 * heartbeats itself, dispatches every other PDU by command id, and forgets a
 * server's users when its link closes.
 */
export class RouteServer implements RouteContext {
  readonly presence = new PresenceTable();
  readonly stats: RouteStats = { links: 0, pdusIn: 0, forwarded: 0, unrouted: 0, badBodies: 0, unknownCommands: 0, linksRefused: 0, registrationsRefused: 0, unregisteredReports: 0, classicLinks: 0 };
  private readonly server: net.Server;
  /** Every open link, admitted or still in its handshake. */
  private readonly links = new Map<number, RouteLink>();
  private readonly admittedLinks = new Set<number>();
  /** Links of TeamTalk msg_servers (RouteLink.kind "classic"). */
  private readonly classicLinks = new Set<number>();
  private readonly handshakes: PendingLinks;
  readonly held: HeldDeliveries;
  readonly takeoverSilenceMs: number;
  private readonly ticker: NodeJS.Timeout;
  private nextId = 1;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly opts: LinkServerOptions,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    this.held = new HeldDeliveries({ windowMs: opts.warmupHoldMs ?? 3000, maxCount: 50_000, maxBytes: 32 * 1024 * 1024, retryEveryMs: 50 });
    this.handshakes = new PendingLinks(opts.auth);
    // A live peer heartbeats every heartbeat interval at the latest.
    this.takeoverSilenceMs = 2 * opts.heartbeatIntervalMs;
    this.server = net.createServer((socket) => this.accept(socket));
    this.ticker = linkTicker(opts.heartbeatIntervalMs, opts.linkTimeoutMs, () => this.tick());
  }

  listen(): Promise<{ host: string; port: number }> {
    return listen(this.server, this.opts.host, this.opts.port);
  }

  link(id: number): RouteLink | undefined {
    return this.links.get(id);
  }

  peerLinks(): number[] {
    return [...this.presence.allServers().keys(), ...this.classicLinks];
  }

  hold(route: () => boolean, bytes: number): boolean {
    return this.held.hold(route, bytes);
  }

  dropLink(id: number, reason: string): void {
    const link = this.links.get(id);
    if (!link) return;
    link.log.warn({ reason }, 'dropping link');
    link.destroy();
  }

  /** Graceful: stop accepting, end every link, destroy what has not closed after the grace period. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.ticker);
      this.held.close();
      const listening = new Promise<void>((r) => this.server.close(() => r()));
      const open = [...this.links.values()];
      for (const link of open) {
        link.stopReading();
        link.end();
      }
      await settleWithin(Promise.all(open.map((l) => l.whenClosed())), this.opts.shutdownGraceMs);
      for (const link of this.links.values()) link.destroy();
      await listening;
    })();
    return this.closing;
  }

  /** Immediate: drop every link. */
  destroy(): void {
    clearInterval(this.ticker);
    this.held.close();
    this.server.close();
    for (const link of this.links.values()) link.destroy();
  }

  private accept(socket: net.Socket): void {
    const source = socket.remoteAddress ?? '';
    const peer = `${source}:${socket.remotePort}`;
    // A link in its handshake takes a place among the few allowed per source; an open server (no secret) admits at once.
    const handshake = this.opts.auth.secret !== null;
    if (this.closing || (handshake ? !this.handshakes.take(source) : this.admittedLinks.size >= this.opts.maxLinks)) {
      this.stats.linksRefused++;
      this.log.warn({ peer, links: this.admittedLinks.size, handshakes: this.handshakes.size }, 'link refused');
      socket.destroy();
      return;
    }
    const id = this.nextId;
    this.nextId = this.nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextId + 1;
    const link = new RouteLink(socket, id, this.log.child({ link: id, peer }), this.opts, {
      onPdu: (l, pdu) => this.onPdu(l, pdu),
      onAdmit: (l, admission) => this.admit(l, source, admission),
      onClose: (l) => this.onLinkClosed(l, source),
    });
    this.links.set(id, link);
  }

  private admit(link: RouteLink, source: string, admission: Admission): string | null {
    if (this.opts.auth.secret !== null) this.handshakes.release(source);
    if (this.admittedLinks.size >= this.opts.maxLinks) {
      this.stats.linksRefused++;
      link.log.warn({ links: this.admittedLinks.size, max: this.opts.maxLinks }, 'link refused: ROUTE_MAX_LINKS reached');
      return `no room: ${this.admittedLinks.size} links (ROUTE_MAX_LINKS)`;
    }
    this.admittedLinks.add(link.id);
    this.stats.links = this.admittedLinks.size;
    // Only our processes know the handshake.
    if (admission.kind === 'authenticated') link.kind = 'ours';
    const who = admission.kind === 'authenticated' ? { role: admission.identity.role, name: admission.identity.name } : {};
    link.log.info({ admission: admission.kind, ...who }, 'link open');
    return null;
  }

  private onLinkClosed(link: RouteLink, source: string): void {
    this.links.delete(link.id);
    if (link.admission === null) this.handshakes.release(source);
    if (this.classicLinks.delete(link.id)) this.stats.classicLinks = this.classicLinks.size;
    if (!this.admittedLinks.delete(link.id)) return;
    this.stats.links = this.admittedLinks.size;
    const users = this.presence.removeLink(link.id);
    link.log.info({ serverId: link.serverId, users }, 'link closed; its users are gone');
  }

  private onPdu(link: RouteLink, pdu: Pdu): void {
    const { commandId, seqNum } = pdu.header;
    if (commandId === Cid.CID_OTHER_HEARTBEAT) return;
    this.stats.pdusIn++;
    if (link.kind === 'unknown') this.classify(link, commandId);
    const handler = this.registry.get(commandId);
    if (!handler) {
      this.stats.unknownCommands++;
      link.log.warn({ commandId, seqNum }, 'unknown command; ignored');
      return;
    }
    try {
      handler(this, link, pdu);
    } catch (err) {
      // A fault of ours, not of the peer: log it and keep the link and the decoder going.
      link.log.error({ err, commandId, seqNum }, 'handler failed');
    }
  }

  /**
   * The first PDU of a link admitted without the handshake (a trusted
   * address, or an open loopback server) tells its kind: our access servers
   * register first; a TeamTalk msg_server never does (it starts with its
   * online users, a role or a status).
   */
  private classify(link: RouteLink, commandId: number): void {
    if (commandId === Cid.CID_OTHER_MSG_SERV_INFO) {
      link.kind = 'ours';
      return;
    }
    link.kind = 'classic';
    this.classicLinks.add(link.id);
    this.stats.classicLinks = this.classicLinks.size;
    link.log.info({ commandId }, "TeamTalk msg_server link: TeamTalk's route protocol only");
  }

  private tick(): void {
    const now = Date.now();
    for (const link of this.links.values()) link.keepAlive(now, this.opts.heartbeatIntervalMs, this.opts.linkTimeoutMs, HEARTBEAT_PDU);
  }
}
