import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBody } from '../../proto/commands.ts';
import type { CidValue } from '../../proto/commands.ts';
import { withHandlerContext, type HandlerTestContext } from '../../test/helpers/handler-context.ts';
import { rng } from '../../test/helpers/rng.ts';
import { createGroup } from './group-change.ts';
import { MAX_AUDIO_BYTES, audioPreview, insertReturning } from './message-audio.ts';
import { msgData } from './message-data.ts';
import { msgById, msgList } from './message-history.ts';
import { unreadCount } from './message-unread.ts';
import type { HandlerContext, Reply } from './types.ts';

let t: HandlerTestContext;
let ctx: HandlerContext;
withHandlerContext((h) => ((t = h), (ctx = h.ctx)));

const SINGLE_TEXT = 0x01;
const SINGLE_AUDIO = 0x02;
const GROUP_AUDIO = 0x12;
type Info = { msgId: number; fromSessionId: number; msgType: number; msgData: Buffer };

/** msg_data of a voice message: duration (big-endian u32) then `n` bytes of every value, not valid UTF-8. */
function voice(seconds: number, n: number, seed: number): Buffer {
  const next = rng(seed);
  const out = Buffer.alloc(4 + n);
  out.writeUInt32BE(seconds);
  for (let i = 4; i < out.length; i++) out[i] = Math.floor(next() * 256);
  if (n > 1) out[4] = 0xff; // never valid UTF-8
  return out;
}

/** Sends one batch through the real send path; returns the msg ids answered (0: refused). */
async function send(msgs: [from: number, to: number, type: number, data: Buffer][]): Promise<number[]> {
  const replies = await msgData.run(
    ctx,
    msgs.map(([from, to, type, data]) => ({ fromUserId: from, toSessionId: to, msgId: 0, createTime: 0, msgType: type, msgData: data })),
  );
  return replies.map((r) => (encodable(r!).message as { msgId: number }).msgId);
}

function encodable(r: Reply): Reply {
  assert.ok(encodeBody(r.commandId as CidValue, r.message as never).length > 0);
  return r;
}

async function list(userId: number, sessionType: number, sessionId: number): Promise<Info[]> {
  const [r] = await msgList.run(ctx, [{ userId, sessionType, sessionId, msgIdBegin: 0, msgCnt: 50 }]);
  return (encodable(r!).message as { msgList: Info[] }).msgList;
}

async function byId(userId: number, sessionType: number, sessionId: number, ids: number[]): Promise<Info[]> {
  const [r] = await msgById.run(ctx, [{ userId, sessionType, sessionId, msgIdList: ids }]);
  return (encodable(r!).message as { msgList: Info[] }).msgList;
}

async function sql<T>(query: string, params: unknown[] = []): Promise<T[]> {
  const [rows] = await t.storage.pool.query(query, params);
  return rows as T[];
}

async function relationOf(a: number, b: number): Promise<number> {
  const [rel] = await sql<{ id: number }>('SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?', [a, b]);
  return rel!.id;
}

test('single voice message: IMAudio row, id in content, byte-exact through list and by id', async () => {
  const data = voice(7, 3000, 1);
  const [id] = await send([[901, 902, SINGLE_AUDIO, data]]);
  assert.equal(id, 1);

  const [audio] = await sql<{ id: number; fromId: number; toId: number; path: string; size: number; duration: number; data: Buffer }>(
    'SELECT id, fromId, toId, path, size, duration, data FROM IMAudio WHERE fromId = 901',
  );
  const { id: audioId, data: stored, ...cols } = audio!;
  assert.deepEqual({ ...cols }, { fromId: 901, toId: 902, path: '', size: 3000, duration: 7 });
  assert.ok(stored.equals(data.subarray(4)));
  const relateId = await relationOf(901, 902);
  const [msg] = await sql<{ content: string }>(`SELECT content FROM IMMessage_${relateId % t.storage.shards} WHERE relateId = ?`, [relateId]);
  assert.equal(msg!.content, String(audioId));

  for (const got of [await list(902, 1, 901), await list(901, 1, 902), await byId(902, 1, 901, [1])]) {
    assert.equal(got.length, 1);
    assert.deepEqual([got[0]!.msgId, got[0]!.fromSessionId, got[0]!.msgType], [1, 901, SINGLE_AUDIO]);
    assert.ok(Buffer.from(got[0]!.msgData).equals(data), 'msg_data comes back byte for byte');
  }
});

test('group voice message round-trips byte-exact', async () => {
  const created = await createGroup.run(ctx, [{ userId: 911, groupType: 2, groupName: 'v', groupAvatar: '', memberIdList: [912] }]);
  const groupId = (created[0]!.message as { groupId: number }).groupId;
  const a = voice(3, 1, 2);
  const b = voice(60, 40_000, 3);
  assert.deepEqual(await send([[911, groupId, GROUP_AUDIO, a], [912, groupId, GROUP_AUDIO, b]]), [1, 2]);

  const [row] = await sql<{ toId: number; size: number; duration: number }>('SELECT toId, size, duration FROM IMAudio WHERE fromId = 912');
  assert.deepEqual({ ...row }, { toId: groupId, size: 40_000, duration: 60 });
  const listed = await list(912, 2, groupId);
  assert.deepEqual(listed.map((m) => [m.msgId, m.fromSessionId, m.msgType]), [[2, 912, GROUP_AUDIO], [1, 911, GROUP_AUDIO]]);
  assert.ok(Buffer.from(listed[0]!.msgData).equals(b) && Buffer.from(listed[1]!.msgData).equals(a));
  const got = await byId(911, 2, groupId, [1]);
  assert.ok(Buffer.from(got[0]!.msgData).equals(a));
});

test('malformed voice messages are refused with msg_id 0 and leave nothing behind', async () => {
  const before = (await sql<{ n: number }>('SELECT COUNT(*) AS n FROM IMAudio'))[0]!.n;
  const tooLong = voice(1, MAX_AUDIO_BYTES + 1, 4);
  const ids = await send([
    [921, 922, SINGLE_AUDIO, Buffer.from([0, 0, 0])], // shorter than the header
    [921, 922, SINGLE_AUDIO, Buffer.from([0, 0, 0, 9])], // header and no audio
    [921, 922, SINGLE_AUDIO, tooLong],
  ]);
  assert.deepEqual(ids, [0, 0, 0]);
  assert.equal((await sql<{ n: number }>('SELECT COUNT(*) AS n FROM IMAudio'))[0]!.n, before, 'no IMAudio row');
  assert.deepEqual(await list(922, 1, 921), [], 'no message row');
  assert.equal(await ctx.redis.hget('unread_922', '921'), null, 'nothing counted');

  // A refused voice message costs only itself: the rest of its batch is stored.
  const good = voice(2, 10, 5);
  const mixed = await send([[921, 922, SINGLE_AUDIO, Buffer.from([1, 2])], [921, 922, SINGLE_AUDIO, good]]);
  assert.equal(mixed[0], 0);
  assert.ok(mixed[1]! > 0);
  const listed = await list(922, 1, 921);
  assert.deepEqual(listed.map((m) => m.msgId), [mixed[1]]);
  assert.ok(Buffer.from(listed[0]!.msgData).equals(good));
});

test('text and voice in one batch keep msg id order and their own bytes', async () => {
  const batch: [number, number, number, Buffer][] = [
    [931, 932, SINGLE_TEXT, Buffer.from('hello')],
    [931, 932, SINGLE_AUDIO, voice(4, 500, 6)],
    [932, 931, SINGLE_AUDIO, voice(5, 700, 7)],
    [931, 932, SINGLE_TEXT, Buffer.from('again')],
    [931, 932, SINGLE_AUDIO, voice(6, 900, 8)],
    [941, 942, SINGLE_AUDIO, voice(9, 100, 9)],
  ];
  const ids = await send(batch);
  assert.deepEqual(ids, [1, 2, 3, 4, 5, 1]);
  const listed = await list(931, 1, 932);
  assert.deepEqual(listed.map((m) => m.msgId), [5, 4, 3, 2, 1]);
  listed.forEach((m) => assert.ok(Buffer.from(m.msgData).equals(batch[m.msgId - 1]![3]), `msg ${m.msgId}`));
  const other = await byId(942, 1, 941, [1]);
  assert.ok(Buffer.from(other[0]!.msgData).equals(batch[5]![3]));

  // Previews show TeamTalk's "[语音]" text, not the audio.
  const [u] = await unreadCount.run(ctx, [{ userId: 942 }]);
  const info = (encodable(u!).message as { unreadinfoList: { latestMsgData: Buffer; latestMsgType: number }[] }).unreadinfoList;
  assert.deepEqual(info.map((i) => [i.latestMsgType, Buffer.from(i.latestMsgData)]), [[SINGLE_AUDIO, audioPreview()]]);
});

test('large voice messages in one batch are split over statements and keep their order', async () => {
  const big = [voice(30, 2_500_000, 10), voice(31, 10, 11), voice(32, 2_500_000, 12)];
  assert.deepEqual(await send(big.map((d) => [961, 962, SINGLE_AUDIO, d])), [1, 2, 3]);
  const got = await list(962, 1, 961);
  got.forEach((m) => assert.ok(Buffer.from(m.msgData).equals(big[m.msgId - 1]!), `msg ${m.msgId}`));
});

test('rows TeamTalk wrote (a file server path, no data) answer their duration without audio', async () => {
  const [sent] = await send([[951, 952, SINGLE_TEXT, Buffer.from('x')]]);
  const relateId = await relationOf(951, 952);
  const table = `IMMessage_${relateId % t.storage.shards}`;
  const audio = (await sql<{ insertId: number }>(
    "INSERT INTO IMAudio (fromId, toId, path, size, duration, created) VALUES (951, 952, 'http://msfs/g0/1.audio', 1234, 12, 1)",
  )) as unknown as { insertId: number };
  await sql(
    `INSERT INTO ${table} (relateId, fromId, toId, msgId, content, status, type, created, updated)
      VALUES (?, 951, 952, ?, ?, 0, ?, 1, 1), (?, 951, 952, ?, ?, 0, ?, 1, 1), (?, 951, 952, ?, ?, 0, ?, 1, 1)`,
    [relateId, sent! + 1, String(audio.insertId), SINGLE_AUDIO, relateId, sent! + 2, '999999', SINGLE_AUDIO, relateId, sent! + 3, 'raw', SINGLE_AUDIO],
  );
  const got = await byId(952, 1, 951, [sent! + 1, sent! + 2, sent! + 3]);
  assert.deepEqual(
    got.map((m) => [m.msgId, Buffer.from(m.msgData).toString('hex')]),
    [[sent! + 3, Buffer.from('raw').toString('hex')], [sent! + 2, '00000000'], [sent! + 1, '0000000c']],
  );
});

test('INSERT ... RETURNING is used only where the server has it', () => {
  assert.equal(insertReturning('10.11.19-MariaDB-0+deb12u1'), true);
  assert.equal(insertReturning('10.5.0-MariaDB'), true);
  assert.equal(insertReturning('11.4.2-MariaDB-log'), true);
  assert.equal(insertReturning('10.4.32-MariaDB'), false);
  assert.equal(insertReturning('8.0.36'), false);
  assert.equal(insertReturning('5.7.44-log'), false);
});
