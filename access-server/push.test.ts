import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { Cid, decodeBody, encodeBody } from '../proto/commands.ts';
import { FrameDecoder } from '../proto/frame-decoder.ts';
import { encodePdu } from '../proto/header.ts';
import type { IM } from '../proto/messages.ts';
import { MsgType } from '../proto/conversation.ts';
import { encryptText } from '../proto/text-crypto.ts';
import { MOBILE, PC, startAccessFixture, waitFor, type AccessFixture } from '../test/helpers/access-server.ts';
import type { RunningAccessServer } from './access-server.ts';
import { pushFlash, PushType } from './push.ts';

test('the preview line: nick and opened text, fixed lines for voice and pictures, cut at 40 bytes on a character', () => {
  assert.equal(pushFlash(MsgType.SINGLE_TEXT, encryptText('hi there'), 'ann'), 'ann:hi there');
  assert.equal(pushFlash(MsgType.GROUP_TEXT, Buffer.from('plain words'), 'ann'), 'ann:plain words');
  assert.equal(pushFlash(MsgType.SINGLE_AUDIO, Buffer.from([0, 0, 0, 3, 1, 2]), 'ann'), 'ann给您发送了一条语音消息');
  // 42 bytes: cut like any other line (TeamTalk cuts it too, in the middle of a character).
  assert.equal(pushFlash(MsgType.GROUP_AUDIO, Buffer.from([0, 0, 0, 3]), 'ann'), 'ann在群聊中发送了一条语音...');
  assert.equal(pushFlash(MsgType.SINGLE_TEXT, encryptText('look &$#@~^@[{:http://x/1.png:}]&$~@#@'), 'ann'), '您收到了一条消息');
  assert.equal(pushFlash(MsgType.SINGLE_TEXT, Buffer.from('x'), null), '您收到了一条消息');
  const long = pushFlash(MsgType.SINGLE_TEXT, encryptText('这是一条很长很长很长很长很长的消息'), 'ann');
  assert.ok(long.endsWith('...'));
  assert.ok(Buffer.byteLength(long) <= 40, long);
  assert.ok(!long.includes('\ufffd'), 'no character cut in half');
  assert.equal(pushFlash(MsgType.SINGLE_TEXT, Buffer.from('x'.repeat(36)), 'a'), `a:${'x'.repeat(35)}...`);
});

/** A TeamTalk push_server stand-in: records every CID_OTHER_PUSH_TO_USER_REQ and answers it. */
async function fakePushServer() {
  const got: IM.Server.IMPushToUserReq[] = [];
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder();
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      for (const { header, body } of decoder.push(chunk)) {
        if (header.commandId !== Cid.CID_OTHER_PUSH_TO_USER_REQ) continue;
        const req = decodeBody(Cid.CID_OTHER_PUSH_TO_USER_REQ, body);
        got.push(req);
        const results = req.userTokenList.map((t) => ({ userToken: t.token, resultCode: 0 }));
        socket.write(encodePdu({ commandId: Cid.CID_OTHER_PUSH_TO_USER_RSP, seqNum: header.seqNum }, encodeBody(Cid.CID_OTHER_PUSH_TO_USER_RSP, { pushResultList: results })));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { got, port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let fx: AccessFixture;
let push: Awaited<ReturnType<typeof fakePushServer>>;
let server: RunningAccessServer;
before(async () => {
  push = await fakePushServer();
  fx = await startAccessFixture();
  server = await fx.startServer({ PUSH_SERVERS: `127.0.0.1:${push.port}` });
  await fx.seedUsers(4);
});
after(async () => {
  await fx.close();
  await push.close();
});

test('a stored message is pushed to the receiver\'s device token: normal while no PC of theirs is on, silent while one is', async () => {
  const phone = await fx.login(server, 2, MOBILE);
  await phone.request(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 2, deviceToken: 'token-of-2', clientType: MOBILE });
  const sender = await fx.login(server, 1, PC);
  const ack = await sender.request(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: 2, msgId: 0, createTime: 0, msgType: MsgType.SINGLE_TEXT, msgData: encryptText('hello two') });
  assert.ok((ack.message as { msgId: number }).msgId > 0);
  await waitFor(() => push.got.length === 1, 3000, 'one push');
  const p = push.got[0]!;
  assert.equal(p.flash, 'nick 1:hello two');
  assert.deepEqual(JSON.parse(p.data), { msg_type: MsgType.SINGLE_TEXT, from_id: 1 });
  assert.equal(p.userTokenList.length, 1);
  assert.deepEqual([p.userTokenList[0]!.userId, p.userTokenList[0]!.token, p.userTokenList[0]!.pushType], [2, 'token-of-2', PushType.NORMAL]);

  const pc = await fx.login(server, 2, PC);
  await sender.request(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: 2, msgId: 0, createTime: 0, msgType: MsgType.SINGLE_TEXT, msgData: Buffer.from('again') });
  await waitFor(() => push.got.length === 2, 3000, 'second push');
  assert.equal(push.got[1]!.userTokenList[0]!.pushType, PushType.SILENT);

  // The sender's own devices get no push; a user without a token gets none.
  await sender.request(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: 3, msgId: 0, createTime: 0, msgType: MsgType.SINGLE_TEXT, msgData: Buffer.from('to three') });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(push.got.length, 2);
  for (const c of [phone, sender, pc]) c.destroy();
});

test('a group message is pushed to the members\' tokens except the sender\'s and those who muted the group', async () => {
  push.got.length = 0;
  const phones = [];
  for (const n of [2, 3, 4]) {
    const c = await fx.login(server, n, MOBILE);
    await c.request(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: n, deviceToken: `token-of-${n}`, clientType: MOBILE });
    phones.push(c);
  }
  const sender = await fx.login(server, 1, PC);
  await sender.request(Cid.CID_LOGIN_REQ_DEVICETOKEN, { userId: 1, deviceToken: 'token-of-1', clientType: MOBILE });
  const created = await sender.request(Cid.CID_GROUP_CREATE_REQUEST, { userId: 1, groupType: 2, groupName: 'push', groupAvatar: '', memberIdList: [2, 3, 4] });
  const groupId = (created.message as { groupId: number }).groupId;
  assert.ok(groupId > 0);
  await phones[1]!.request(Cid.CID_GROUP_SHIELD_GROUP_REQUEST, { userId: 3, groupId, shieldStatus: 1 });
  const ack = await sender.request(Cid.CID_MSG_DATA, { fromUserId: 1, toSessionId: groupId, msgId: 0, createTime: 0, msgType: MsgType.GROUP_TEXT, msgData: encryptText('to the group') });
  assert.ok((ack.message as { msgId: number }).msgId > 0);
  await waitFor(() => push.got.length === 1, 3000, 'one group push');
  const p = push.got[0]!;
  assert.deepEqual(p.userTokenList.map((t) => t.token).sort(), ['token-of-2', 'token-of-4']);
  assert.deepEqual(JSON.parse(p.data), { msg_type: MsgType.GROUP_TEXT, from_id: 1, group_id: groupId });
  assert.equal(p.flash, 'nick 1:to the group');
  for (const c of [...phones, sender]) c.destroy();
});
