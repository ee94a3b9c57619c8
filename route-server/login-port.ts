/**
 * The port where TeamTalk's C++ msg_servers register, speaking to us as they
 * would to TeamTalk's login_server (loginserver.conf MsgServerPort, 8100):
 *
 *   msg_server -> CID_OTHER_MSG_SERV_INFO    once connected: ip1, ip2, port, max/cur connections, host name
 *   msg_server -> CID_OTHER_USER_CNT_UPDATE  per user going online (1) or offline (2)
 *   both sides -> CID_OTHER_HEARTBEAT        when idle for the heartbeat interval
 *
 * Nothing else is answered. These links have no handshake (a msg_server
 * cannot authenticate), so a link is admitted by its source address only:
 * loopback and ROUTE_TRUSTED_PEERS; anything else is closed at once. What a
 * link registered is a server for GET /msg_server until the link closes.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { isAdmittedAddress } from '../common/cluster-auth.ts';
import { listen, settleWithin } from '../common/lifecycle.ts';
import { PduSocket } from '../common/pdu-socket.ts';
import { Cid, decodeBody } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import { linkTicker } from './link.ts';
import { serverInfoOf, type ServerChoice, type ServerInfo } from './presence.ts';

/** A registration or a count update is < 300 bytes; nothing a msg_server sends here comes near this. */
export const LOGIN_MAX_FRAME_BYTES = 64 * 1024;
/** Only heartbeats are written: a peer that leaves this much unread is not reading at all. */
const LOGIN_MAX_OUTBOUND_BYTES = 64 * 1024;
/** IMUserCntUpdate.user_action: TeamTalk's USER_CNT_INC / USER_CNT_DEC. */
const USER_CNT_INC = 1;
const USER_CNT_DEC = 2;
const UINT32_MAX = 0xffff_ffff;

const HEARTBEAT_PDU = encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT }, new Uint8Array(0));

export interface LoginPortOptions {
  host: string;
  port: number;
  /** Admit loopback peers. */
  trustLoopback: boolean;
  /** Other admitted addresses; null: none. */
  trusted: net.BlockList | null;
  /** Open links at once; more are closed at accept. */
  maxLinks: number;
  /** Idle period after which a heartbeat is sent (TeamTalk: 5 s). */
  heartbeatIntervalMs: number;
  /** Silence (no whole frame) after which a link is dropped (TeamTalk: 30 s). */
  linkTimeoutMs: number;
  /** Largest PDU accepted, header included (default LOGIN_MAX_FRAME_BYTES). */
  maxFrameLength?: number;
}

export interface LoginPortStats {
  /** Open links. */
  links: number;
  /** Links that registered a server. */
  servers: number;
  linksAccepted: number;
  /** Links closed at accept: address not trusted, no room, shutting down. */
  linksRefused: number;
  /** Whole PDUs read, heartbeats included. */
  pdusIn: number;
  /** PDUs whose body did not decode or made no sense (ignored). */
  badBodies: number;
  /** PDUs with a command this port does not serve (ignored). */
  unknownCommands: number;
  /** Count updates from a link that has not registered (ignored, as TeamTalk does). */
  unregisteredCounts: number;
  /** Links closed because their bytes did not form PDUs (bad length). */
  framingErrors: number;
}

interface LoginLink {
  readonly id: number;
  readonly conn: PduSocket;
  readonly log: Logger;
}

/** `a` is less loaded than `b`: lower cur/max, then fewer connections (presence.ts's rule). */
function lessLoaded(a: Readonly<ServerInfo>, b: Readonly<ServerInfo>): boolean {
  const la = a.curConnCnt / a.maxConnCnt;
  const lb = b.curConnCnt / b.maxConnCnt;
  return la < lb || (la === lb && a.curConnCnt < b.curConnCnt);
}

function hasRoom(s: Readonly<ServerInfo>): boolean {
  return s.curConnCnt < s.maxConnCnt;
}

/**
 * One choice over several sources, by the rule of each: the least loaded
 * code-0 server (on a tie the earlier source wins); else code 2 when some
 * source has servers (all full), code 1 when none has any.
 */
export function pickAcross(choices: readonly ServerChoice[]): ServerChoice {
  let best: ServerInfo | undefined;
  let full = false;
  for (const c of choices) {
    if (c.code === 0) {
      if (!best || lessLoaded(c.server, best)) best = c.server;
    } else if (c.code === 2) {
      full = true;
    }
  }
  if (best) return { code: 0, server: best };
  return full ? { code: 2 } : { code: 1 };
}

export class LoginPort {
  readonly stats: LoginPortStats = {
    links: 0,
    servers: 0,
    linksAccepted: 0,
    linksRefused: 0,
    pdusIn: 0,
    badBodies: 0,
    unknownCommands: 0,
    unregisteredCounts: 0,
    framingErrors: 0,
  };
  private readonly server: net.Server;
  private readonly links = new Map<number, LoginLink>();
  /** link id → what it registered, in first-registration order (a re-registration keeps its place). */
  private readonly servers = new Map<number, ServerInfo>();
  private readonly ticker: NodeJS.Timeout;
  private nextId = 1;
  private closing: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly opts: LoginPortOptions,
    private readonly log: Logger,
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
    this.ticker = linkTicker(opts.heartbeatIntervalMs, opts.linkTimeoutMs, () => this.tick());
  }

  listen(): Promise<{ host: string; port: number }> {
    return listen(this.server, this.opts.host, this.opts.port);
  }

  /** Registered msg_servers. */
  get serverCount(): number {
    return this.servers.size;
  }

  /** Every registered msg_server, in registration order. */
  allServers(): Iterable<Readonly<ServerInfo>> {
    return this.servers.values();
  }

  /** The least-loaded registered msg_server with room (code 0); 1 when none is registered; 2 when all are full. */
  pickLeastLoaded(): ServerChoice {
    if (this.servers.size === 0) return { code: 1 };
    let best: ServerInfo | undefined;
    for (const s of this.servers.values()) {
      if (hasRoom(s) && (!best || lessLoaded(s, best))) best = s;
    }
    return best ? { code: 0, server: { ...best } } : { code: 2 };
  }

  /** Graceful: stop accepting, end every link, destroy what is still open after `graceMs`. Idempotent. */
  close(graceMs: number): Promise<void> {
    this.closing ??= (async () => {
      this.stopped = true;
      clearInterval(this.ticker);
      const listening = new Promise<void>((r) => this.server.close(() => r()));
      const open = [...this.links.values()];
      for (const link of open) link.conn.end('shutting down', graceMs);
      await settleWithin(Promise.all(open.map((l) => l.conn.whenClosed())), graceMs);
      for (const link of this.links.values()) link.conn.destroy('shutting down');
      await listening;
    })();
    return this.closing;
  }

  /** Immediate: drop every link and stop listening. */
  destroy(): void {
    this.stopped = true;
    clearInterval(this.ticker);
    this.server.close();
    for (const link of this.links.values()) link.conn.destroy('destroyed');
  }

  private accept(socket: net.Socket): void {
    const address = socket.remoteAddress ?? '';
    const peer = `${address}:${socket.remotePort}`;
    const why = this.stopped
      ? 'shutting down'
      : !isAdmittedAddress(address, this.opts.trusted, { trustLoopback: this.opts.trustLoopback })
        ? 'address not trusted (ROUTE_TRUSTED_PEERS)'
        : this.links.size >= this.opts.maxLinks
          ? `no room: ${this.links.size} links (ROUTE_MAX_LINKS)`
          : null;
    if (why !== null) {
      this.stats.linksRefused++;
      this.log.warn({ peer, reason: why }, 'msg_server link refused');
      socket.destroy();
      return;
    }
    const id = this.nextId;
    this.nextId = this.nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextId + 1;
    const log = this.log.child({ loginLink: id, peer });
    socket.setKeepAlive(true, 10_000);
    const conn = new PduSocket(
      socket,
      log,
      {
        maxFrameLength: this.opts.maxFrameLength ?? LOGIN_MAX_FRAME_BYTES,
        maxOutboundBytes: LOGIN_MAX_OUTBOUND_BYTES,
        drainTimeoutMs: this.opts.linkTimeoutMs,
        maxInFlight: Number.MAX_SAFE_INTEGER,
        maxInFlightBytes: Number.MAX_SAFE_INTEGER,
      },
      {
        onFrame: (pdu) => this.onPdu(link, pdu),
        onClose: (reason) => this.onClosed(link, reason),
      },
    );
    const link: LoginLink = { id, conn, log };
    this.links.set(id, link);
    this.stats.links = this.links.size;
    this.stats.linksAccepted++;
    log.info('msg_server link open');
  }

  private onClosed(link: LoginLink, reason: string): void {
    this.links.delete(link.id);
    this.stats.links = this.links.size;
    if (reason.startsWith('framing error')) this.stats.framingErrors++;
    const info = this.servers.get(link.id);
    this.servers.delete(link.id);
    this.stats.servers = this.servers.size;
    if (info) link.log.info({ reason, hostName: info.serverId, port: info.port, cur: info.curConnCnt }, 'msg_server link closed; its server is gone');
    else link.log.info({ reason }, 'msg_server link closed');
  }

  private onPdu(link: LoginLink, pdu: Pdu): void {
    this.stats.pdusIn++;
    const { commandId, seqNum } = pdu.header;
    try {
      switch (commandId) {
        case Cid.CID_OTHER_HEARTBEAT:
          return;
        case Cid.CID_OTHER_MSG_SERV_INFO:
          this.onServInfo(link, pdu);
          return;
        case Cid.CID_OTHER_USER_CNT_UPDATE:
          this.onUserCount(link, pdu);
          return;
        default:
          this.stats.unknownCommands++;
          link.log.warn({ commandId, seqNum }, 'command not served on the msg_server port; ignored');
      }
    } catch (err) {
      // A fault of ours, not of the peer: keep the link and the port going.
      link.log.error({ err, commandId, seqNum }, 'msg_server pdu handling failed');
    }
  }

  private onServInfo(link: LoginLink, pdu: Pdu): void {
    const m = this.decode(link, Cid.CID_OTHER_MSG_SERV_INFO, pdu);
    if (!m) return;
    if (m.port < 1 || m.port > 65535) {
      this.bad(link, pdu, `port ${m.port} out of range`);
      return;
    }
    const info = serverInfoOf(m);
    const again = this.servers.has(link.id);
    this.servers.set(link.id, info);
    this.stats.servers = this.servers.size;
    link.log.info({ hostName: m.hostName, ip1: m.ip1, ip2: m.ip2, port: m.port, max: m.maxConnCnt, cur: m.curConnCnt, again }, 'msg_server registered');
  }

  private onUserCount(link: LoginLink, pdu: Pdu): void {
    const m = this.decode(link, Cid.CID_OTHER_USER_CNT_UPDATE, pdu);
    if (!m) return;
    const s = this.servers.get(link.id);
    if (!s) {
      this.stats.unregisteredCounts++;
      link.log.debug({ action: m.userAction }, 'user count before registration; ignored');
      return;
    }
    if (m.userAction === USER_CNT_INC) s.curConnCnt = Math.min(UINT32_MAX, s.curConnCnt + 1);
    else if (m.userAction === USER_CNT_DEC) s.curConnCnt = Math.max(0, s.curConnCnt - 1);
    else {
      this.bad(link, pdu, `user_action ${m.userAction}`);
      return;
    }
    link.log.debug({ uid: m.userId, action: m.userAction, cur: s.curConnCnt }, 'msg_server user count');
  }

  private decode<C extends typeof Cid.CID_OTHER_MSG_SERV_INFO | typeof Cid.CID_OTHER_USER_CNT_UPDATE>(link: LoginLink, cid: C, pdu: Pdu) {
    try {
      return decodeBody(cid, pdu.body);
    } catch (err) {
      this.stats.badBodies++;
      link.log.warn({ err, commandId: cid, seqNum: pdu.header.seqNum, bytes: pdu.body.length }, 'undecodable body; ignored');
      return null;
    }
  }

  private bad(link: LoginLink, pdu: Pdu, why: string): void {
    this.stats.badBodies++;
    link.log.warn({ commandId: pdu.header.commandId, seqNum: pdu.header.seqNum, why }, 'meaningless body; ignored');
  }

  private tick(): void {
    const now = Date.now();
    for (const link of this.links.values()) {
      const silent = link.conn.silentFor(now);
      if (silent > this.opts.linkTimeoutMs) {
        link.log.warn({ silentMs: silent }, 'msg_server link silent too long; closing');
        link.conn.destroy(`silent for ${silent} ms`);
      } else if (now - link.conn.lastSendAt >= this.opts.heartbeatIntervalMs) {
        link.conn.write(HEARTBEAT_PDU);
      }
    }
  }
}
