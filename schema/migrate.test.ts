import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { isImError, ErrorCode } from '../common/errors.ts';
import { createTestStorage } from '../test/helpers/storage.ts';
import type { TestStorage } from '../test/helpers/storage.ts';
import { loadMigrations, migrate, SCHEMA_DIR } from './migrate.ts';

const isDuplicate = (err: unknown): boolean => (err as { code?: string }).code === 'ER_DUP_ENTRY';

async function snapshot(pool: Pool): Promise<Map<string, string>> {
  const [tables] = await pool.query<RowDataPacket[]>('SHOW TABLES');
  const out = new Map<string, string>();
  for (const row of tables) {
    const name = String(Object.values(row)[0]);
    const [[create]] = await pool.query<RowDataPacket[]>(`SHOW CREATE TABLE \`${name}\``);
    out.set(name, String(create?.['Create Table']).replace(/ AUTO_INCREMENT=\d+/, ''));
  }
  return out;
}

const shardNames = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => [`IMMessage_${i}`, `IMGroupMessage_${i}`]).flat().sort();

describe('migrate', () => {
  let s: TestStorage;
  let files: string[];
  before(async () => {
    s = await createTestStorage({ migrate: false });
    files = (await loadMigrations(SCHEMA_DIR)).map((m) => m.name);
  });
  after(async () => s?.cleanup());

  it('applies every migration once; a second run changes nothing', async () => {
    const first = await migrate({ url: s.mysqlUrl, shards: 3 });
    assert.deepEqual(first.applied, files);
    assert.deepEqual([...first.shardTablesCreated].sort(), shardNames(3));
    const before = await snapshot(s.pool);
    const second = await migrate({ url: s.mysqlUrl, shards: 3 });
    assert.deepEqual(second.applied, []);
    assert.deepEqual(second.shardTablesCreated, []);
    assert.deepEqual(await snapshot(s.pool), before);
    for (const t of ['IMUser', 'IMRelationShip', 'IMRecentSession', 'IMTransmitFile', 'IMMessage_2']) {
      assert.ok(before.has(t), `${t} exists`);
    }
  });

  it('grows from 3 to 5 shards while the shard tables are empty', async () => {
    const r = await migrate({ url: s.mysqlUrl, shards: 5 });
    assert.deepEqual([...r.shardTablesCreated].sort(), ['IMGroupMessage_3', 'IMGroupMessage_4', 'IMMessage_3', 'IMMessage_4']);
    const tables = [...(await snapshot(s.pool)).keys()].filter((t) => /Message_\d+$/.test(t)).sort();
    assert.deepEqual(tables, shardNames(5));
    const [rows] = await s.pool.query<RowDataPacket[]>('SELECT template, shards FROM schema_shards ORDER BY template');
    assert.deepEqual(rows.map((r) => [r.template, r.shards]), [['IMGroupMessage', 5], ['IMMessage', 5]]);
  });

  it('rejects a second message with the same (relateId, msgId) or (groupId, msgId)', async () => {
    const msg = 'INSERT INTO IMMessage_1 (relateId, fromId, toId, msgId, content, updated, created) VALUES (6, 1, 2, ?, ?, 0, 0)';
    await s.pool.execute(msg, [1, 'first']);
    await s.pool.execute(msg, [2, 'second']);
    await assert.rejects(s.pool.execute(msg, [1, 'again']), isDuplicate);
    const group = 'INSERT INTO IMGroupMessage_2 (groupId, userId, msgId, content) VALUES (7, 1, ?, ?)';
    await s.pool.execute(group, [1, 'first']);
    await assert.rejects(s.pool.execute(group, [1, 'again']), isDuplicate);
  });

  it('keeps one relationship per user pair and one session per (userId, peerId, type)', async () => {
    const rel = 'INSERT INTO IMRelationShip (smallId, bigId) VALUES (?, ?)';
    await s.pool.execute(rel, [1, 2]);
    await assert.rejects(s.pool.execute(rel, [1, 2]), isDuplicate);
    const session = 'INSERT INTO IMRecentSession (userId, peerId, type) VALUES (?, ?, ?)';
    await s.pool.execute(session, [1, 2, 1]);
    await s.pool.execute(session, [1, 2, 2]);
    await assert.rejects(s.pool.execute(session, [1, 2, 1]), isDuplicate);
  });

  it('refuses to change the shard count once shard tables hold rows', async () => {
    await assert.rejects(migrate({ url: s.mysqlUrl, shards: 7 }), (err) => isImError(err, ErrorCode.MIGRATION));
    await migrate({ url: s.mysqlUrl, shards: 5 });
  });

  it('refuses a migration that was changed after it was applied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tt-schema-'));
    try {
      await cp(SCHEMA_DIR, dir, { recursive: true, filter: (src) => !src.endsWith('.ts') });
      assert.deepEqual((await migrate({ url: s.mysqlUrl, shards: 5, dir })).applied, []);
      await appendFile(join(dir, files[0]!), '\n-- edited later\n');
      await assert.rejects(migrate({ url: s.mysqlUrl, shards: 5, dir }), (err) => isImError(err, ErrorCode.MIGRATION));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('migrate on a database laid out by TeamTalk', () => {
  let s: TestStorage;
  before(async () => {
    s = await createTestStorage({ migrate: false });
  });
  after(async () => s?.cleanup());

  it('merges duplicate sessions and adds the unique keys to existing shards', async () => {
    // The legacy shape: same columns, plain indexes only, utf8 tables; the
    // highest shard table existing tells the migrator there were 8 shards.
    await s.pool.query(`CREATE TABLE IMRecentSession (
      id int(11) NOT NULL AUTO_INCREMENT, userId int(11) unsigned NOT NULL, peerId int(11) unsigned NOT NULL,
      type tinyint(1) unsigned DEFAULT '0', status tinyint(1) unsigned DEFAULT '0',
      created int(11) unsigned NOT NULL DEFAULT '0', updated int(11) unsigned NOT NULL DEFAULT '0',
      PRIMARY KEY (id), KEY idx_userId_peerId_status_updated (userId, peerId, status, updated),
      KEY idx_userId_peerId_type (userId, peerId, type)) ENGINE=InnoDB DEFAULT CHARSET=utf8`);
    await s.pool.query(`CREATE TABLE IMMessage_7 (
      id int(11) NOT NULL AUTO_INCREMENT, relateId int(11) unsigned NOT NULL, fromId int(11) unsigned NOT NULL,
      toId int(11) unsigned NOT NULL, msgId int(11) unsigned NOT NULL, content varchar(4096) DEFAULT '',
      type tinyint(2) unsigned NOT NULL DEFAULT '1', status tinyint(1) unsigned NOT NULL DEFAULT '0',
      updated int(11) unsigned NOT NULL, created int(11) unsigned NOT NULL,
      PRIMARY KEY (id), KEY idx_relateId_status_created (relateId, status, created)) ENGINE=InnoDB`);
    await s.pool.query(`INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES
      (1, 2, 1, 1, 10, 20), (1, 2, 1, 0, 5, 30), (1, 2, 1, 1, 7, 40), (1, 3, NULL, 0, 1, 1), (2, 1, 1, 0, 1, 1)`);
    await s.pool.query(`INSERT INTO IMMessage_7 (relateId, fromId, toId, msgId, updated, created) VALUES (15, 1, 2, 1, 0, 0)`);

    const r = await migrate({ url: s.mysqlUrl, shards: 8 });
    assert.ok(!r.shardTablesCreated.includes('IMMessage_7'));
    assert.ok(r.shardTablesCreated.includes('IMMessage_0'));
    const [sessions] = await s.pool.query<RowDataPacket[]>(
      'SELECT id, userId, peerId, type, status, created, updated FROM IMRecentSession ORDER BY id',
    );
    assert.deepEqual(sessions.map((x) => Object.values(x)), [
      [1, 1, 2, 1, 0, 5, 40],
      [4, 1, 3, 0, 0, 1, 1],
      [5, 2, 1, 1, 0, 1, 1],
    ]);
    const msg = 'INSERT INTO IMMessage_7 (relateId, fromId, toId, msgId, updated, created) VALUES (15, 1, 2, 1, 0, 0)';
    await assert.rejects(s.pool.execute(msg), isDuplicate);
  });
});
