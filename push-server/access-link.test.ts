/**
 * Against the real sender: access-server's Pusher (access-server/push.ts),
 * on its own PeerLink with TeamTalk's link rules (heartbeat when idle, drop
 * a silent peer), talks to push-server over a plain PDU link.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import { after, before, test } from 'node:test';
import { Pusher } from '../access-server/push.ts';
import { MsgType } from '../proto/conversation.ts';
import { encryptText } from '../proto/text-crypto.ts';
import { loadConfig } from './config.ts';
import { startFakes, type Fakes } from './fake-providers.ts';
import { startPushServer, type RunningPushServer } from './push-server.ts';

const IOS = 0x11;
const TOKEN = 'b'.repeat(64);
let fakes: Fakes;
let server: RunningPushServer;
let pusher: Pusher;

before(async () => {
  fakes = await startFakes();
  server = await startPushServer(loadConfig({ ...fakes.env, PUSH_LINK_TIMEOUT_MS: '300' }));
  const timings = {
    heartbeatMs: 50, timeoutMs: 300, reconnectMinMs: 20, reconnectMaxMs: 100, maxOutboundBytes: 1 << 20, maxFrameBytes: 1 << 20,
    secret: null, identity: { role: 'access-server', name: 'a1', instance: Buffer.alloc(16) },
  };
  pusher = new Pusher([{ host: '127.0.0.1', port: server.address.port }], timings, {
    deviceTokens: () => Promise.resolve([{ userId: 2, userType: IOS, token: TOKEN, pushCount: 6 }]),
    shielded: () => Promise.resolve(new Set<number>()),
    pcOnline: () => Promise.resolve(new Set<number>()),
    log: pino({ level: 'silent' }),
  });
});
after(async () => {
  pusher.close();
  await server.close();
  await fakes.close();
});

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('the link stays up past both silence timeouts on heartbeats alone, and the opened Chinese preview arrives intact', async () => {
  await until(() => server.stats.links === 1, 3000, 'the access server link');
  // Three times either side's 300 ms silence limit, with nothing but heartbeats.
  const t0 = Date.now();
  await until(() => Date.now() - t0 > 900, 2000, 'time');
  assert.deepEqual([server.stats.links, server.stats.linksAccepted], [1, 1], 'never dropped, never reconnected');

  const stored = { fromUserId: 1, toSessionId: 2, msgId: 9, msgType: MsgType.SINGLE_TEXT, msgData: encryptText('明天见') };
  await pusher.afterStored(stored, [2], '李雷');
  await until(() => fakes.apns.seen.some((s) => s.path.endsWith(TOKEN)), 3000, 'the push at APNs');
  const seen = fakes.apns.seen.find((s) => s.path.endsWith(TOKEN))!;
  assert.deepEqual(seen.json, { aps: { alert: '李雷:明天见', badge: 6, sound: 'bingbong.aiff' }, custom: JSON.stringify({ msg_type: 1, from_id: 1 }) });
  await until(() => server.stats.sent.apns === 1 && server.stats.requests === 1, 3000, 'the push answered');
  assert.deepEqual(fakes.apns.problems, []);
});
