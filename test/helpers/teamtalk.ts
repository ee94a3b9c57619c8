/**
 * TeamTalk's C++ servers played byte for byte over raw sockets, for tests of
 * a mixed cluster: PDUs are built field by field here (TeamTalk's 16-byte
 * header, version 1, the service id of each command), independent of our
 * encoder. A TeamTalkPeer is one link (a msg_server's to a route_server, or
 * a route_server's or login_server's end of one); a TeamTalkListener takes
 * links as TeamTalk's route_server or login_server does.
 */
import net from 'node:net';
import { once } from 'node:events';
import { Cid, encodeBody } from '../../proto/commands.ts';
import { FrameDecoder } from '../../proto/frame-decoder.ts';
import { Waiters } from './waiters.ts';

export interface Got {
  serviceId: number;
  commandId: number;
  seqNum: number;
  body: Uint8Array;
}

export const SID_BUDDY_LIST = 0x02;
export const SID_MSG = 0x03;
export const SID_OTHER = 0x07;
export const SID_EXT = 0x0a;

/** TeamTalk's PDU: length, version 1, flag 0, service id, command id, seq, reserved; then the body. */
export function teamTalkPdu(serviceId: number, commandId: number, body: Uint8Array, seqNum = 0): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(16 + body.length, 0);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(0, 6);
  head.writeUInt16BE(serviceId, 8);
  head.writeUInt16BE(commandId, 10);
  head.writeUInt16BE(seqNum, 12);
  head.writeUInt16BE(0, 14);
  return Buffer.concat([head, body]);
}

/** One link of a TeamTalk server: what it was sent (heartbeats apart), and sending as it would. */
export class TeamTalkPeer {
  /** Not taken by next() yet. */
  readonly got: Got[] = [];
  /** Everything it was sent, in order (heartbeats apart). */
  readonly all: Got[] = [];
  private readonly waiters = new Waiters();

  constructor(private readonly socket: net.Socket) {
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const { header, body } of decoder.push(chunk)) {
        if (header.commandId === Cid.CID_OTHER_HEARTBEAT) continue;
        const g = { serviceId: header.serviceId, commandId: header.commandId, seqNum: header.seqNum, body };
        this.got.push(g);
        this.all.push(g);
      }
      this.waiters.wake();
    });
    socket.on('error', () => undefined);
    // TeamTalk's servers heartbeat every 5 s on every server link.
    const beat = setInterval(() => this.send(SID_OTHER, Cid.CID_OTHER_HEARTBEAT, {}), 5000);
    beat.unref();
    socket.on('close', () => clearInterval(beat));
  }

  static async connect(port: number): Promise<TeamTalkPeer> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new TeamTalkPeer(socket);
  }

  send(serviceId: number, commandId: number, message: object, seqNum = 0): void {
    this.write(teamTalkPdu(serviceId, commandId, encodeBody(commandId, message as never), seqNum));
  }

  /** Passes on a PDU as it came (TeamTalk's route_server forwards them so). */
  forward(g: Got): void {
    this.write(teamTalkPdu(g.serviceId, g.commandId, g.body, g.seqNum));
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Takes the first PDU of `commandId` (matching `pred`) it was sent; rejects after `timeoutMs`. */
  next(commandId: number, pred: (body: Uint8Array) => boolean = () => true, timeoutMs = 3000): Promise<Got> {
    const take = (): Got | undefined => {
      const i = this.got.findIndex((g) => g.commandId === commandId && pred(g.body));
      return i >= 0 ? this.got.splice(i, 1)[0] : undefined;
    };
    return this.waiters.until(take, timeoutMs, `no 0x${commandId.toString(16)} at the TeamTalk peer in time`);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A TeamTalk server's listening port: each link that connects becomes a TeamTalkPeer. */
export class TeamTalkListener {
  readonly peers: TeamTalkPeer[] = [];
  private readonly waiters = new Waiters();

  private constructor(private readonly server: net.Server) {
    server.on('connection', (socket) => {
      this.peers.push(new TeamTalkPeer(socket));
      this.waiters.wake();
    });
  }

  static async start(): Promise<TeamTalkListener> {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new TeamTalkListener(server);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Resolves once `count` links have connected. */
  linked(count: number, timeoutMs = 3000): Promise<TeamTalkPeer[]> {
    const enough = (): TeamTalkPeer[] | undefined => (this.peers.length >= count ? this.peers.slice(0, count) : undefined);
    return this.waiters.until(enough, timeoutMs, () => `${this.peers.length} of ${count} links in time`);
  }

  async close(): Promise<void> {
    for (const p of this.peers) p.close();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
