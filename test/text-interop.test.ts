/**
 * The CLI (a real `npm run client` process) and a client that seals text as
 * TeamTalk's apps do read each other through a real access server, under a
 * deployment's own IM_AES_KEY.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import { decryptText, encryptText } from '../proto/text-crypto.ts';
import type { RunningAccessServer } from '../access-server/access-server.ts';
import { MOBILE, nextPush, startAccessFixture, type AccessFixture } from './helpers/access-server.ts';

const run = promisify(execFile);
const KEY = 'k3y-of-this-deployment-32-bytes!';
let fx: AccessFixture;
let server: RunningAccessServer;

before(async () => {
  fx = await startAccessFixture();
  server = await fx.startServer();
  await fx.seedUsers(2);
});
after(() => fx.close());

function cli(...args: string[]): Promise<{ stdout: string }> {
  return run(process.execPath, ['--import', 'tsx', 'scripts/client.ts', '--host', '127.0.0.1', '--port', String(server.address.port), ...args], {
    env: { ...process.env, IM_AES_KEY: KEY },
    timeout: 20_000,
  });
}

test('the CLI sends sealed text a TeamTalk app opens, and shows what such an app sealed', async () => {
  const app = await fx.login(server, 2, MOBILE, { caps: [] });
  const got = nextPush(app, Cid.CID_MSG_DATA, 15_000);
  const sent = await cli('--user', 'user1', '--password', 'pw1', '--send', '2', '你好, app');
  assert.match(sent.stdout, /ack: msg #\d+ to 2 stored/);
  const m = (await got).message as IM.Message.IMMsgData;
  assert.equal(decryptText(m.msgData, Buffer.from(KEY)), '你好, app');
  assert.notEqual(decryptText(m.msgData), '你好, app', 'sealed with IM_AES_KEY, not with TeamTalk\'s default key');

  const reply = await app.request(Cid.CID_MSG_DATA, {
    fromUserId: 2, toSessionId: 1, msgId: 0, createTime: Math.floor(Date.now() / 1000), msgType: 1, msgData: encryptText('hello from the app', Buffer.from(KEY)),
  });
  assert.ok((reply.message as IM.Message.IMMsgDataAck).msgId > 0);
  const history = await cli('--user', 'user1', '--password', 'pw1', '--history', '2');
  assert.match(history.stdout, /hello from the app/);
  assert.match(history.stdout, /你好, app/);
});
