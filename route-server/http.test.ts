import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isImError } from '../common/errors.ts';
import { FakeAccessServer, startTestRouteServer } from '../test/helpers/route-server.ts';
import { loadConfig } from './config.ts';
import { PresenceTable } from './presence.ts';

async function get(base: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(base + path, init);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

test('GET /msg_server: code 1 with no server, the least-loaded one, code 2 when all are full', async (t) => {
  const route = await startTestRouteServer({ ROUTE_MSFS_URL: 'http://files.example/', ROUTE_DISCOVERY_URL: 'http://disc.example/' });
  t.after(() => route.close());
  const base = `http://127.0.0.1:${route.httpAddress.port}`;

  let r = await get(base, '/msg_server');
  assert.equal(r.status, 200, 'TeamTalk answers every code with HTTP 200');
  assert.deepEqual(JSON.parse(r.body), { code: 1, msg: 'no msg server' });

  const a = await FakeAccessServer.start(route, { serverId: 'as-a', ip1: '10.0.0.1', ip2: '10.0.1.1', port: 8001, maxConnCnt: 10, curConnCnt: 5 });
  const b = await FakeAccessServer.start(route, { serverId: 'as-b', ip1: '10.0.0.2', ip2: '10.0.1.2', port: 8002, maxConnCnt: 100, curConnCnt: 20 });
  t.after(() => Promise.all([a.close(), b.close()]));
  r = await get(base, '/msg_server?client=android');
  assert.match(r.type ?? '', /^application\/json/);
  assert.deepEqual(JSON.parse(r.body), {
    code: 0,
    msg: '',
    priorIP: '10.0.0.2',
    backupIP: '10.0.1.2',
    port: '8002',
    discovery: 'http://disc.example/',
    msfsPrior: 'http://files.example/',
    msfsBackup: 'http://files.example/',
  });

  for (let i = 0; i < 40; i++) b.count(1); // as-b: 60 of 100, as-a: 5 of 10
  await b.barrier();
  assert.equal(JSON.parse((await get(base, '/msg_server')).body).port, '8001');

  await b.close();
  a.count(1);
  a.count(1);
  a.count(1);
  a.count(1);
  a.count(1); // 10 of 10
  await a.barrier();
  while (route.presence.serverCount > 1) await new Promise((res) => setTimeout(res, 5)); // b's link close is handled
  assert.deepEqual(JSON.parse((await get(base, '/msg_server')).body), { code: 2, msg: 'all msg servers are full' });

  r = await get(base, '/healthz');
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { ok: true, servers: 1, users: 0 });
  r = await get(base, '/metrics');
  assert.match(r.body, /^route_links 1$/m);
  assert.equal((await get(base, '/nope')).status, 404);
  assert.equal((await get(base, '/msg_server', { method: 'POST', body: 'x' })).status, 405);
});

test('least-loaded choice: ratio first, then fewest connections; a zero cap counts as full', () => {
  const p = new PresenceTable();
  const base = { ip1: 'a', ip2: 'b', port: 1 };
  assert.deepEqual(p.pickLeastLoaded(), { code: 1 });
  p.register(1, { ...base, serverId: 'x', maxConnCnt: 0, curConnCnt: 0 });
  assert.deepEqual(p.pickLeastLoaded(), { code: 2 });
  p.register(2, { ...base, serverId: 'y', maxConnCnt: 100, curConnCnt: 10 });
  p.register(3, { ...base, serverId: 'z', maxConnCnt: 10, curConnCnt: 1 });
  const pick = p.pickLeastLoaded();
  assert.equal(pick.code === 0 && pick.server.serverId, 'z');
  p.adjustCount(3, -1);
  p.adjustCount(3, -1);
  assert.equal(p.server(3)?.curConnCnt, 0, 'never below zero');
  assert.equal(p.register(4, { ...base, serverId: 'y', maxConnCnt: 1, curConnCnt: 0 }), 2, 'the stale link of a re-registered id');
  assert.equal(p.linkOfServer('y'), 4);
  p.removeLink(2);
  assert.equal(p.linkOfServer('y'), 4, 'dropping the stale link keeps the new registration');
});

test('a bad setting fails at start-up naming the variable', () => {
  assert.throws(
    () => loadConfig({ ROUTE_HEARTBEAT_MS: 'soon' }),
    (err: unknown) => isImError(err, ErrorCode.BAD_CONFIG) && err.message.includes('ROUTE_HEARTBEAT_MS'),
  );
  const c = loadConfig({});
  assert.equal(c.port, 10700);
  assert.equal(c.httpPort, 10800);
  assert.ok(Object.isFrozen(c));
});

test('ROUTE_MSFS_URL: an http(s) URL, given its closing slash (clients append paths to it); anything else stops the start', () => {
  assert.equal(loadConfig({ ROUTE_MSFS_URL: 'http://img.example:8700' }).msfsUrl, 'http://img.example:8700/');
  assert.equal(loadConfig({ ROUTE_MSFS_URL: 'https://img.example/msfs/' }).msfsUrl, 'https://img.example/msfs/');
  assert.equal(loadConfig({}).msfsUrl, '');
  for (const bad of ['img.example:8700', 'ftp://img.example/']) assert.throws(() => loadConfig({ ROUTE_MSFS_URL: bad }), { code: 'IM_ERR_BAD_CONFIG' }, bad);
});
