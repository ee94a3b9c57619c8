import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import pino from 'pino';
import { Cid } from '../proto/commands.ts';
import { encodePdu } from '../proto/header.ts';
import { PduSocket } from './pdu-socket.ts';

test('a peer whose frames wait unread while reading is paused for the in-flight budget is not silent', async (t) => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => peer.destroy());
  const [socket] = await accepted;
  const frames: number[] = [];
  const conn = new PduSocket(socket, pino({ level: 'silent' }), { maxFrameLength: 1024, maxOutboundBytes: 1 << 20, drainTimeoutMs: 1000, maxInFlight: 1, maxInFlightBytes: 1 << 20 }, {
    onFrame: (pdu) => frames.push(pdu.header.commandId),
    onClose: () => undefined,
  });
  t.after(() => conn.destroy('test over'));
  conn.began();
  peer.write(encodePdu({ commandId: Cid.CID_OTHER_HEARTBEAT }, new Uint8Array(0)));
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(frames, [], 'paused: nothing read');
  assert.equal(conn.silentFor(), 0);
  conn.finished();
  assert.ok(conn.silentFor() < 50, `measured from the resume, not from the last frame (${conn.silentFor()} ms)`);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(frames, [Cid.CID_OTHER_HEARTBEAT]);
});
