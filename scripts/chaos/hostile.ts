/**
 * Hostile clients held open by the suite itself: connection floods that
 * never log in, a logged-in reader that stops reading, and writers that
 * send a valid frame one byte a second. Each reports what the server did
 * to it (closed it, and when), bounded in count and time.
 */
import net from 'node:net';
import { encodeBody, Cid } from '../../proto/commands.ts';
import { encodePdu } from '../../proto/header.ts';
import { ClientType, md5hex } from '../../proto/session.ts';
import { userName, userPassword } from '../bench/types.ts';
import { now } from './load.ts';

export interface Held {
  opened: number;
  /** Closed by the server while held, with the ms after opening of the first and last close. */
  closedByServer: number;
  firstCloseMs: number | null;
  lastCloseMs: number | null;
  release(): void;
}

/** Opens `count` connections to a port (bounded: at most 200 connecting at once, 10 s in all). */
export async function holdConnections(port: number, count: number, onOpen: (s: net.Socket) => void = () => undefined): Promise<Held> {
  const sockets: net.Socket[] = [];
  const t0 = now();
  let releasing = false;
  const held: Held = { opened: 0, closedByServer: 0, firstCloseMs: null, lastCloseMs: null, release: () => undefined };
  const openOne = (): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => (s.destroy(), resolve()), 5_000);
      s.on('error', () => undefined);
      s.on('data', () => undefined);
      s.once('connect', () => {
        clearTimeout(timer);
        held.opened++;
        sockets.push(s);
        onOpen(s);
        resolve();
      });
      s.once('close', () => {
        clearTimeout(timer);
        resolve();
        if (releasing || !sockets.includes(s)) return;
        held.closedByServer++;
        const ms = Math.round(now() - t0);
        held.firstCloseMs ??= ms;
        held.lastCloseMs = ms;
      });
    });
  const deadline = now() + 10_000;
  for (let i = 0; i < count && now() < deadline; i += 200) await Promise.all(Array.from({ length: Math.min(200, count - i) }, openOne));
  held.release = () => {
    releasing = true;
    for (const s of sockets) s.destroy();
  };
  return held;
}

/** A valid heartbeat PDU written one byte a second on each connection, until released. */
export async function trickle(port: number, count: number): Promise<Held> {
  const pdu = encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT }, encodeBody(Cid.CID_OTHER_HEARTBEAT, {}));
  const timers: NodeJS.Timeout[] = [];
  const held = await holdConnections(port, count, (s) => {
    let i = 0;
    const t = setInterval(() => {
      if (s.destroyed) return clearInterval(t);
      s.write(pdu.subarray(i % pdu.length, (i % pdu.length) + 1));
      i++;
    }, 1000);
    timers.push(t);
  });
  const release = held.release;
  held.release = () => {
    for (const t of timers) clearInterval(t);
    release();
  };
  return held;
}

/** Logs a user in on a raw socket, then stops reading it: pushes pile up in the server's buffers. */
export async function slowReader(port: number, uid: number): Promise<Held> {
  const login = encodePdu(
    { commandId: Cid.CID_LOGIN_REQ_USERLOGIN, seqNum: 1 },
    encodeBody(Cid.CID_LOGIN_REQ_USERLOGIN, { userName: userName(uid), password: md5hex(userPassword(uid)), onlineStatus: 1, clientType: ClientType.ANDROID, clientVersion: 'chaos-slow-reader' }),
  );
  return holdConnections(port, 1, (s) => {
    s.write(login);
    s.once('data', () => s.pause());
  });
}
