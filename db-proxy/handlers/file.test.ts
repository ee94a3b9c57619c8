import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cid, encodeBody } from '../../proto/commands.ts';
import { withHandlerContext, type HandlerTestContext } from '../../test/helpers/handler-context.ts';
import { addOffline, delOffline, handlers, hasOffline } from './file.ts';
import type { HandlerContext, Reply } from './types.ts';

const INJECTION = "x' OR '1'='1";
let t: HandlerTestContext;
let ctx: HandlerContext;

withHandlerContext((h) => ((t = h), (ctx = h.ctx)));

const stored = async () =>
  (await t.storage.pool.query('SELECT fromId, toId, taskId, fileName, size, status FROM IMTransmitFile ORDER BY id'))[0] as Record<string, unknown>[];

test('add records offline files and sends no answer', async () => {
  let clock = 1000;
  const at: HandlerContext = { ...ctx, now: () => clock };
  const first = await addOffline.run(at, [
    { fromUserId: 1, toUserId: 2, taskId: 't1', fileName: 'a.txt', fileSize: 10 },
    { fromUserId: 3, toUserId: 2, taskId: INJECTION, fileName: INJECTION, fileSize: 20 },
    { fromUserId: 1, toUserId: 2, taskId: 't-long', fileName: 'n'.repeat(256), fileSize: 1 },
  ]);
  assert.deepEqual(first, [null, null, null]);
  clock = 900;
  await addOffline.run(at, [{ fromUserId: 1, toUserId: 4, taskId: 't3', fileName: 'c.bin', fileSize: 30 }]);
  assert.deepEqual(await stored(), [
    { fromId: 1, toId: 2, taskId: 't1', fileName: 'a.txt', size: 10, status: 0 },
    { fromId: 3, toId: 2, taskId: INJECTION, fileName: INJECTION, size: 20, status: 0 },
    { fromId: 1, toId: 4, taskId: 't3', fileName: 'c.bin', size: 30, status: 0 },
  ]);
  assert.equal(addOffline.fail({ fromUserId: 1, toUserId: 2, taskId: 't', fileName: 'f', fileSize: 1 }, new Error('x')), null);
});

test('has-offline lists each receiver\'s files, oldest first', async () => {
  const out = (await hasOffline.run(ctx, [{ userId: 2 }, { userId: 4 }, { userId: 5 }])).map((r) => r as Reply);
  assert.ok(out.every((r) => r.commandId === Cid.CID_FILE_HAS_OFFLINE_RES));
  assert.deepEqual(out[0]!.message, {
    userId: 2,
    offlineFileList: [
      { fromUserId: 1, taskId: 't1', fileName: 'a.txt', fileSize: 10 },
      { fromUserId: 3, taskId: INJECTION, fileName: INJECTION, fileSize: 20 },
    ],
    ipAddrList: [],
  });
  assert.equal((out[1]!.message as { offlineFileList: unknown[] }).offlineFileList.length, 1);
  assert.deepEqual(out[2]!.message, { userId: 5, offlineFileList: [], ipAddrList: [] });
  assert.deepEqual(hasOffline.fail({ userId: 2 }, new Error('down')), {
    commandId: Cid.CID_FILE_HAS_OFFLINE_RES,
    message: { userId: 2, offlineFileList: [], ipAddrList: [] },
  });
});

test('del removes only rows matching sender, receiver and task id', async () => {
  const out = await delOffline.run(ctx, [
    { fromUserId: 9, toUserId: 2, taskId: 't1' },
    { fromUserId: 3, toUserId: 2, taskId: "x' OR '1'='2" },
    { fromUserId: 1, toUserId: 2, taskId: 't1' },
  ]);
  assert.deepEqual(out, [null, null, null]);
  assert.deepEqual((await stored()).map((r) => r.taskId), [INJECTION, 't3']);
  await delOffline.run(ctx, [{ fromUserId: 3, toUserId: 2, taskId: INJECTION }]);
  assert.deepEqual((await stored()).map((r) => r.taskId), ['t3']);
  assert.equal(delOffline.fail({ fromUserId: 1, toUserId: 2, taskId: 't' }, new Error('x')), null);
});

test('every refusal encodes, even for a request that could not be decoded', () => {
  for (const h of handlers) {
    const reply = h.fail({} as never, new Error('bad body'));
    if (reply) assert.ok(encodeBody(reply.commandId as never, reply.message as never).length >= 0);
  }
});
