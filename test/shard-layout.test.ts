/**
 * Start-up safety of the shard layout and SHARD_MAP over two servers (two
 * private databases standing for two hosts): db-proxy refuses a SHARDS that
 * differs from what the database recorded and a map naming a server
 * without its tables or with them for another count; `migrate` with the map
 * creates each server's tables; messages, history and msg-id re-seeding
 * then go to the server that holds each shard.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RowDataPacket } from 'mysql2/promise';
import { ErrorCode, isImError } from '../common/errors.ts';
import { Cid } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import { migrate } from '../schema/migrate.ts';
import { startTestDbProxy } from './helpers/db-proxy.ts';
import { createTestStorage, type TestStorage } from './helpers/storage.ts';

let main: TestStorage;
let other: TestStorage;
let eight: TestStorage;

before(async () => {
  main = await createTestStorage({ shards: 4 });
  other = await createTestStorage({ shards: 4, migrate: false });
  eight = await createTestStorage({ shards: 8 });
});
after(async () => {
  await Promise.all([main?.cleanup(), other?.cleanup(), eight?.cleanup()]);
});

const refused = (pattern: RegExp) => (err: unknown) => {
  assert.ok(isImError(err, ErrorCode.BAD_CONFIG), String(err));
  assert.match((err as Error).message, pattern);
  return true;
};

test('a SHARDS other than the one the database was migrated with is refused, naming both', async () => {
  await assert.rejects(startTestDbProxy({ SHARDS: '8' }, main), refused(/SHARDS=8, but MYSQL_URL .* was migrated with 4 shards/));
  await assert.rejects(startTestDbProxy({ SHARDS: '2' }, main), refused(/SHARDS=2.*start with SHARDS=4/));
});

test('a SHARD_MAP naming a server that was never migrated, or migrated for another count, is refused', async () => {
  await assert.rejects(startTestDbProxy({ SHARD_MAP: `2-3=${other.mysqlUrl}` }, main), refused(/SHARD_MAP, shards 2-3\).*never migrated/));
  await assert.rejects(
    startTestDbProxy({ SHARD_MAP: `3=${eight.mysqlUrl}` }, main),
    refused(/SHARDS=4, but .*\(SHARD_MAP, shards 3\) was migrated with 8 shards/),
  );
});

test('a server of the map that lost a shard table is refused, naming the tables', async () => {
  const result = await migrate({ url: main.mysqlUrl, shards: 4, shardMap: `2-3=${other.mysqlUrl}` });
  assert.deepEqual(result.shardHosts.map((h) => [h.shards, [...h.tablesCreated].sort()]), [
    [[2, 3], ['IMGroupMessage_2', 'IMGroupMessage_3', 'IMMessage_2', 'IMMessage_3']],
  ]);
  assert.doesNotMatch(result.shardHosts[0]!.url, /:[^@/]*@/, 'no password in the result');
  await other.pool.query('RENAME TABLE IMGroupMessage_3 TO away_3');
  try {
    await assert.rejects(startTestDbProxy({ SHARD_MAP: `2-3=${other.mysqlUrl}` }, main), refused(/lacks IMGroupMessage_\{3\}/));
  } finally {
    await other.pool.query('RENAME TABLE away_3 TO IMGroupMessage_3');
  }
});

test('with the map, rows, history and msg-id re-seeding use the server that holds each shard', async () => {
  const env = { SHARD_MAP: `2-3=${other.mysqlUrl}` };
  let fx = await startTestDbProxy(env, main);
  const send = async (from: number, to: number, text: string): Promise<number> => {
    const c = await fx.connect();
    const r = await c.request(Cid.CID_MSG_DATA, { fromUserId: from, toSessionId: to, msgId: 0, createTime: 1_700_000_000, msgType: 1, msgData: Buffer.from(text) }, { expect: Cid.CID_MSG_DATA });
    return (r.message as IM.Message.IMMsgData).msgId;
  };
  try {
    // Eight conversations: relate ids 1..8 cover every shard twice.
    for (let u = 1; u <= 8; u++) {
      assert.equal(await send(100 + u, 200 + u, `first ${u}`), 1);
      assert.equal(await send(200 + u, 100 + u, `second ${u}`), 2);
    }
    const [rels] = await main.pool.query<RowDataPacket[]>('SELECT id, smallId FROM IMRelationShip WHERE smallId > 100 ORDER BY id');
    assert.equal(rels.length, 8);
    for (const rel of rels) {
      const k = Number(rel.id) % 4;
      const [holder, notHolder] = k >= 2 ? [other, main] : [main, other];
      const [here] = await holder.pool.query<RowDataPacket[]>(`SELECT msgId FROM IMMessage_${k} WHERE relateId = ? ORDER BY msgId`, [rel.id]);
      assert.deepEqual(here.map((r) => r.msgId), [1, 2], `relation ${rel.id} on the server of shard ${k}`);
      const [there] = await notHolder.pool.query<RowDataPacket[]>('SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [`IMMessage_${k}`]);
      if (there.length > 0) {
        const [rows] = await notHolder.pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM IMMessage_${k}`);
        assert.equal(Number(rows[0]!.n), 0, `nothing of shard ${k} on the other server`);
      }
    }
    const onOther = rels.find((r) => Number(r.id) % 4 === 3)!;
    const u = Number(onOther.smallId);
    const c = await fx.connect();
    const history = await c.request(Cid.CID_MSG_LIST_REQUEST, { userId: u, sessionType: 1, sessionId: u + 100, msgIdBegin: 0, msgCnt: 10 });
    assert.deepEqual((history.message as IM.Message.IMGetMsgListRsp).msgList.map((m) => m.msgId).sort(), [1, 2]);

    // Redis forgets the counter; a restarted db-proxy re-seeds it from the server holding the shard.
    await fx.close();
    await main.redis.del(`msg_id_${onOther.id}`);
    fx = await startTestDbProxy(env, main);
    assert.equal(await send(u, u + 100, 'after the restart'), 3);
  } finally {
    await fx.close();
  }
});

test('once stored, the map wins over SHARD_MAP, and a SHARDS other than its count is refused', async () => {
  const fx = await startTestDbProxy({ SHARD_MAP: '' }, main);
  try {
    const c = await fx.connect();
    const [rel] = await main.pool.query<RowDataPacket[]>('SELECT id, smallId, bigId FROM IMRelationShip WHERE id % 4 = 2 LIMIT 1');
    const r = await c.request(Cid.CID_MSG_DATA, { fromUserId: rel[0]!.smallId, toSessionId: rel[0]!.bigId, msgId: 0, createTime: 1_700_000_000, msgType: 1, msgData: Buffer.from('stored map') }, { expect: Cid.CID_MSG_DATA });
    const msgId = (r.message as IM.Message.IMMsgData).msgId;
    const [rows] = await other.pool.query<RowDataPacket[]>('SELECT content FROM IMMessage_2 WHERE relateId = ? AND msgId = ?', [rel[0]!.id, msgId]);
    assert.equal(rows.length, 1, 'on the server the stored map names, not on MYSQL_URL');
  } finally {
    await fx.close();
  }
  await main.pool.query('UPDATE schema_shards SET shards = 8');
  try {
    await assert.rejects(startTestDbProxy({ SHARDS: '8' }, main), refused(/SHARDS=8, but the shard map in force \(version 1\) has 4 shards/));
  } finally {
    await main.pool.query('UPDATE schema_shards SET shards = 4');
  }
});
