/**
 * Interop driver: runs the checks of one mixed-cluster scenario against
 * servers already started by start-a.sh / start-b.sh, and prints a table
 * of check → result.
 *
 *   node --import tsx scripts/interop/driver.ts a     TeamTalk msg_server under our route-server
 *   node --import tsx scripts/interop/driver.ts b     our access server under TeamTalk's route_server/login_server
 *
 * User X logs in to the TeamTalk msg_server, user Y to our access server
 * (both as Windows clients unless a check says otherwise). Users come from
 * `npm run client -- --create-user` (README.md in this folder): xena/yuri
 * for scenario A, xavier/yvonne for B, password "secret".
 *
 * Sessions on the TeamTalk msg_server ask for no capabilities (caps: []),
 * as a TeamTalk client; the last check logs in once with the default caps
 * to see what msg_server makes of CID_EXT_CLIENT_CAPS_REQ.
 */
import { readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { ClientType, ImSession, SessionType, type IncomingMessage } from '../../proto/session.ts';
import type { Received } from '../../proto/client.ts';
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';

const scenario = (process.argv[2] ?? 'a').toLowerCase();
if (scenario !== 'a' && scenario !== 'b') throw new Error('usage: driver.ts a|b');
const env = process.env;
const num = (name: string, fallback: number): number => Number(env[name] ?? fallback);
const RUN = env.TT_RUN ?? '/tmp/tt-interop';
const HOST = '127.0.0.1';
const PASSWORD = 'secret';

const cfg =
  scenario === 'a'
    ? {
        tt: { host: HOST, port: num('A_TT_MSG_PORT', 21008) },
        ours: { host: HOST, port: num('A_ACCESS_PORT', 21000) },
        balancer: `http://${HOST}:${num('A_ROUTE_HTTP_PORT', 21800)}`,
        balancerName: 'our route-server GET /msg_server',
        routeMetrics: `http://${HOST}:${num('A_ROUTE_HTTP_PORT', 21800)}/metrics`,
        xName: 'xena',
        yName: 'yuri',
        ttLogs: [`${RUN}/msg-a/log/default.log`],
      }
    : {
        tt: { host: HOST, port: num('B_TT_MSG_PORT', 22018) },
        ours: { host: HOST, port: num('B_ACCESS_PORT', 22000) },
        balancer: `http://${HOST}:${num('B_LOGIN_HTTP_PORT', 22080)}`,
        balancerName: 'TeamTalk login_server GET /msg_server',
        routeMetrics: null,
        xName: 'xavier',
        yName: 'yvonne',
        ttLogs: [`${RUN}/msg-b/log/default.log`, `${RUN}/route-b/log/default.log`, `${RUN}/login-b/log/default.log`],
      };

// ---------------------------------------------------------------- results

interface Row {
  check: string;
  ok: boolean | null;
  detail: string;
}
const rows: Row[] = [];
function record(check: string, ok: boolean | null, detail: string): void {
  rows.push({ check, ok, detail });
  console.log(`${ok === null ? 'NOTE' : ok ? 'PASS' : 'FAIL'}  ${check}: ${detail}`);
}
async function check(name: string, fn: () => Promise<string>): Promise<boolean> {
  try {
    const detail = await fn();
    record(name, true, detail);
    return true;
  } catch (err) {
    record(name, false, err instanceof Error ? err.message : String(err));
    return false;
  }
}
function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(what: string, fn: () => T | undefined | null | false, timeoutMs = 4000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out (${timeoutMs} ms) waiting for ${what}`);
    await sleep(25);
  }
}

// ---------------------------------------------------------------- sessions

type Where = 'tt' | 'ours';
interface Client {
  label: string;
  where: Where;
  s: ImSession;
  messages: IncomingMessage[];
  notifies: Received[];
  kicked: IM.Login.IMKickUser[];
  closed: Error | null;
}

async function login(userName: string, where: Where, clientType: number = ClientType.WINDOWS, caps?: string[] | 'default'): Promise<Client> {
  const addr = where === 'tt' ? cfg.tt : cfg.ours;
  const s = await ImSession.login({
    ...addr,
    userName,
    password: PASSWORD,
    clientType,
    caps: caps === 'default' ? undefined : caps ?? (where === 'tt' ? [] : undefined),
    requestTimeoutMs: 5000,
  });
  const c: Client = { label: `${userName}@${where === 'tt' ? 'teamtalk' : 'ours'}`, where, s, messages: [], notifies: [], kicked: [], closed: null };
  s.on('message', (m) => c.messages.push(m));
  s.on('notify', (r) => c.notifies.push(r));
  s.on('kicked', (k) => c.kicked.push(k));
  s.on('close', (e) => (c.closed = e));
  return c;
}

/** Raw request on the session's PduClient (ImSession has no users-status helper). */
function raw(c: Client): { request(cid: number, msg: object, o?: { timeoutMs?: number }): Promise<Received> } {
  return (c.s as unknown as { client: { request(cid: number, msg: object, o?: { timeoutMs?: number }): Promise<Received> } }).client;
}

async function usersStatus(c: Client, ids: number[]): Promise<Map<number, number>> {
  const res = await raw(c).request(Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, { userId: c.s.userId, userIdList: ids });
  const rsp = res.message as IM.Buddy.IMUsersStatRsp;
  return new Map(rsp.userStatList.map((u) => [u.userId, u.status]));
}

const STATUS = { 1: 'online', 2: 'offline', 3: 'leave' } as Record<number, string>;
function statusNotifies(c: Client, userId: number): number[] {
  return c.notifies
    .filter((r) => r.commandId === Cid.CID_BUDDY_LIST_STATUS_NOTIFY && r.message)
    .map((r) => (r.message as IM.Buddy.IMUserStatNotify).userStat)
    .filter((u) => u.userId === userId)
    .map((u) => u.status);
}

/** Waits until `c` was kicked (or closed) by a newer login elsewhere; how it went. */
async function kickOf(c: Client, what: string): Promise<string> {
  await waitFor(`kick of ${what}`, () => c.kicked.length > 0 || c.closed, 4000);
  return c.kicked.length ? `CID_LOGIN_KICK_USER reason ${c.kicked[0]!.kickReason}` : `closed without kick PDU (${c.closed?.message})`;
}

async function balancer(): Promise<string> {
  try {
    const res = await fetch(`${cfg.balancer}/msg_server`, { signal: AbortSignal.timeout(3000) });
    const body = (await res.json()) as { code: number; priorIP?: string; port?: string };
    if (body.code !== 0) return `code ${body.code}`;
    const port = Number(body.port);
    return `${body.priorIP}:${port} (${port === cfg.tt.port ? 'TeamTalk msg_server' : port === cfg.ours.port ? 'our access server' : 'unknown'})`;
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

async function sendAndDeliver(from: Client, to: Client, text: string): Promise<string> {
  const msgId = await from.s.sendText(to.s.userId, text);
  assert(msgId > 0, `ack msg_id ${msgId}`);
  const got = await waitFor(`${to.label} to receive "${text}"`, () => to.messages.find((m) => m.text === text));
  assert(got.msgId === msgId, `delivered msg_id ${got.msgId} != ack ${msgId}`);
  assert(got.fromUserId === from.s.userId, `delivered from ${got.fromUserId}`);
  const hTo = await to.s.history(from.s.userId, SessionType.SINGLE, 0, 5);
  const hFrom = await from.s.history(to.s.userId, SessionType.SINGLE, 0, 5);
  assert(hTo.some((m) => m.msgId === msgId), `receiver history lacks #${msgId}`);
  assert(hFrom.some((m) => m.msgId === msgId), `sender history lacks #${msgId}`);
  return `ack #${msgId}, delivered as #${msgId}, in both histories`;
}

async function sendGroupAndDeliver(from: Client, to: Client, groupId: number, text: string): Promise<string> {
  const msgId = await from.s.sendGroupText(groupId, text);
  assert(msgId > 0, `ack msg_id ${msgId}`);
  const got = await waitFor(`${to.label} to receive group "${text}"`, () => to.messages.find((m) => m.text === text));
  assert(got.msgId === msgId && got.group && got.toSessionId === groupId, `delivered #${got.msgId} to ${got.toSessionId} group=${got.group}`);
  const h = await to.s.history(groupId, SessionType.GROUP, 0, 5);
  assert(h.some((m) => m.msgId === msgId), `receiver group history lacks #${msgId}`);
  return `ack #${msgId}, delivered, in receiver's group history`;
}

/** Read acks for everything unread (a received message stays unread until CID_MSG_READ_ACK, in TeamTalk as here). */
async function markAllRead(c: Client): Promise<number> {
  const u = await c.s.unread();
  for (const i of u.unreadinfoList) c.s.markRead(i.sessionId, i.sessionType, i.latestMsgId);
  await sleep(300);
  const after = await c.s.unread();
  assert(after.totalCnt === 0, `${c.label}: ${after.totalCnt} still unread after read acks`);
  return u.totalCnt;
}

function unreadOf(rsp: IM.Message.IMUnreadMsgCntRsp, sessionId: number, type: number): number {
  return rsp.unreadinfoList.find((u) => u.sessionId === sessionId && u.sessionType === type)?.unreadCnt ?? 0;
}

function logLines(pattern: RegExp): string[] {
  const out: string[] = [];
  for (const f of cfg.ttLogs) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) if (pattern.test(line)) out.push(`${f.split('/').slice(-3, -2)[0]}: ${line.replace(/^.*\] - /, '')}`);
  }
  return out;
}

// ---------------------------------------------------------------- the run

const t0 = Date.now();
const open: Client[] = [];
const track = (c: Client): Client => (open.push(c), c);

console.log(`scenario ${scenario.toUpperCase()}: X=${cfg.xName} on TeamTalk msg_server ${cfg.tt.host}:${cfg.tt.port}, Y=${cfg.yName} on our access server ${cfg.ours.host}:${cfg.ours.port}`);

// Balancer: nobody logged in; then one bare connection on ours (counts as load there), then users.
const offered = new Set<string>();
const b0 = await balancer();
offered.add(b0);
const bare = net.connect(cfg.ours.port, HOST);
await sleep(300);
const b1 = await balancer();
offered.add(b1);

let Y = null as Client | null;
let X = null as Client | null;
await check('login Y on our access server', async () => {
  Y = track(await login(cfg.yName, 'ours'));
  return `user id ${Y.s.userId}`;
});
await check('login X on TeamTalk msg_server', async () => {
  X = track(await login(cfg.xName, 'tt'));
  return `user id ${X.s.userId}`;
});
bare.destroy();
await sleep(500);
const b2 = await balancer();
offered.add(b2);
record(`${cfg.balancerName} offers both kinds`, [...offered].some((o) => o.includes('TeamTalk')) && [...offered].some((o) => o.includes('our access')), `idle: ${b0}; 1 bare conn on ours: ${b1}; X on TT + Y on ours: ${b2}`);

if (!X || !Y) {
  finish();
}
const x = X!;
const y = Y!;

await check('status: Y gets CID_BUDDY_LIST_STATUS_NOTIFY online for X (X logged in after Y)', async () => {
  await waitFor('notify', () => statusNotifies(y, x.s.userId).includes(1));
  return `notifies for X: ${statusNotifies(y, x.s.userId).map((s) => STATUS[s]).join(',')}`;
});
await check('status: users-status request Y→ [X] (on ours)', async () => {
  const m = await usersStatus(y, [x.s.userId]);
  assert(m.get(x.s.userId) === 1, `X is ${STATUS[m.get(x.s.userId) ?? 0] ?? m.get(x.s.userId)}`);
  return 'X online';
});
await check('status: users-status request X→ [Y] (on TeamTalk msg_server)', async () => {
  const m = await usersStatus(x, [y.s.userId]);
  assert(m.get(y.s.userId) === 1, `Y is ${STATUS[m.get(y.s.userId) ?? 0] ?? m.get(y.s.userId)} (answer ${JSON.stringify([...m])})`);
  return 'Y online';
});

await check('1:1 X(TT) → Y(ours)', () => sendAndDeliver(x, y, `x-to-y ${Date.now()}`));
await check('1:1 Y(ours) → X(TT)', () => sendAndDeliver(y, x, `y-to-x ${Date.now()}`));

// Groups: one created on our access server, one on the TeamTalk msg_server.
let groupId = 0;
await check('group create by Y on ours (members X, Y)', async () => {
  const rsp = await y.s.createGroup(`interop-${scenario}-ours`, [x.s.userId, y.s.userId]);
  assert(rsp.resultCode === 0 && rsp.groupId, `result ${rsp.resultCode}`);
  groupId = rsp.groupId!;
  return `group ${groupId}, members ${rsp.userIdList.join(',')}`;
});
let groupId2 = 0;
await check('group create by X on TeamTalk msg_server (members X, Y)', async () => {
  const rsp = await x.s.createGroup(`interop-${scenario}-tt`, [x.s.userId, y.s.userId]);
  assert(rsp.resultCode === 0 && rsp.groupId, `result ${rsp.resultCode}`);
  groupId2 = rsp.groupId!;
  return `group ${groupId2}, members ${rsp.userIdList.join(',')}`;
});
if (groupId) {
  await check(`group ${groupId}: X(TT) → group, Y(ours) receives`, () => sendGroupAndDeliver(x, y, groupId, `gx ${Date.now()}`));
  await check(`group ${groupId}: Y(ours) → group, X(TT) receives`, () => sendGroupAndDeliver(y, x, groupId, `gy ${Date.now()}`));
}
if (groupId2) {
  await check(`group ${groupId2}: X(TT) → group, Y(ours) receives`, () => sendGroupAndDeliver(x, y, groupId2, `gx2 ${Date.now()}`));
  await check(`group ${groupId2}: Y(ours) → group, X(TT) receives`, () => sendGroupAndDeliver(y, x, groupId2, `gy2 ${Date.now()}`));
}

// Signatures: TeamTalk broadcasts a change to every online user of every server; each is told once.
function signNotifies(c: Client, userId: number): string[] {
  return c.notifies
    .filter((r) => r.commandId === Cid.CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY && r.message)
    .map((r) => r.message as IM.Buddy.IMSignInfoChangedNotify)
    .filter((m) => m.changedUserId === userId)
    .map((m) => m.signInfo);
}
async function changeSign(c: Client, signInfo: string): Promise<void> {
  const res = await raw(c).request(Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, { userId: c.s.userId, signInfo });
  assert((res.message as IM.Buddy.IMChangeSignInfoRsp).resultCode === 0, 'change refused');
}
async function toldOnce(changer: Client, signInfo: string, told: Client[]): Promise<string> {
  const before = told.map((c) => signNotifies(c, changer.s.userId).length);
  await changeSign(changer, signInfo);
  await waitFor('notifies', () => told.every((c, i) => signNotifies(c, changer.s.userId).length > before[i]!));
  await sleep(500);
  const got = told.map((c, i) => signNotifies(c, changer.s.userId).slice(before[i]));
  told.forEach((c, i) => assert(got[i]!.length === 1 && got[i]![0] === signInfo, `${c.label} got ${JSON.stringify(got[i])}`));
  return told.map((c) => `${c.label} told once`).join(', ');
}
await check("signature: Y(ours) changes it → X(TT) and Y's phone on ours told once each", async () => {
  const phone = track(await login(cfg.yName, 'ours', ClientType.ANDROID));
  try {
    return await toldOnce(y, `y-sign ${Date.now()}`, [x, phone]);
  } finally {
    await phone.s.logout();
  }
});
await check('signature: X(TT) changes it → Y(ours) told once', () => toldOnce(x, `x-sign ${Date.now()}`, [y]));

// Unread: X offline, Y sends; X back on TT reads the counts; then the reverse.
let x2 = null as Client | null;
await check('status: X logs out of TT → Y gets offline notify for X', async () => {
  await markAllRead(x);
  const before = statusNotifies(y, x.s.userId).length;
  await x.s.logout();
  await waitFor('offline notify', () => statusNotifies(y, x.s.userId).slice(before).includes(2));
  return `notifies for X after logout: ${statusNotifies(y, x.s.userId).slice(before).map((s) => STATUS[s]).join(',')}`;
});
await check('status: users-status Y→[X] after X logged out', async () => {
  const m = await usersStatus(y, [x.s.userId]);
  assert(m.get(x.s.userId) === 2, `X is ${STATUS[m.get(x.s.userId) ?? 0] ?? m.get(x.s.userId)}`);
  return 'X offline';
});
await check('unread: Y sends 2 1:1 + 1 group while X offline; X logs in on TT and sees them', async () => {
  for (const t of ['u1', 'u2']) assert((await y.s.sendText(x.s.userId, `${t} ${Date.now()}`)) > 0, 'send failed');
  if (groupId) assert((await y.s.sendGroupText(groupId, `ug ${Date.now()}`)) > 0, 'group send failed');
  x2 = track(await login(cfg.xName, 'tt'));
  const u = await x2.s.unread();
  const single = unreadOf(u, y.s.userId, SessionType.SINGLE);
  const group = groupId ? unreadOf(u, groupId, SessionType.GROUP) : -1;
  assert(single === 2, `1:1 unread from Y = ${single} (total ${u.totalCnt}, ${JSON.stringify(u.unreadinfoList.map((i) => [i.sessionId, i.sessionType, i.unreadCnt]))})`);
  assert(!groupId || group === 1, `group unread = ${group}`);
  return `1:1 from Y: ${single}, group: ${group}, total ${u.totalCnt}`;
});
await check('status: Y gets online notify when X logs back in on TT', async () => {
  await waitFor('online notify', () => statusNotifies(y, x.s.userId).filter((s) => s === 1).length >= 2);
  return 'ok';
});
await check('unread: X marks read on TT → counts 0', async () => {
  assert(x2, 'no X session');
  const u = await x2.s.unread();
  for (const i of u.unreadinfoList) x2.s.markRead(i.sessionId, i.sessionType, i.latestMsgId);
  await sleep(500);
  const after = await x2.s.unread();
  assert(after.totalCnt === 0, `total ${after.totalCnt} after read acks`);
  return `before ${u.totalCnt}, after 0`;
});
const xa = x2 as Client | null;
if (xa) {
  await check('status: Y logs out of ours → X(TT) gets offline notify for Y', async () => {
    await markAllRead(y);
    const before = statusNotifies(xa, y.s.userId).length;
    await y.s.logout();
    await waitFor('offline notify', () => statusNotifies(xa, y.s.userId).slice(before).includes(2));
    return 'ok';
  });
  let y2 = null as Client | null;
  await check('unread: X(TT) sends 2 1:1 + 1 group while Y offline; Y logs in on ours and sees them', async () => {
    for (const t of ['v1', 'v2']) assert((await xa.s.sendText(y.s.userId, `${t} ${Date.now()}`)) > 0, 'send failed');
    if (groupId) assert((await xa.s.sendGroupText(groupId, `vg ${Date.now()}`)) > 0, 'group send failed');
    y2 = track(await login(cfg.yName, 'ours'));
    const u = await y2.s.unread();
    const single = unreadOf(u, x.s.userId, SessionType.SINGLE);
    const group = groupId ? unreadOf(u, groupId, SessionType.GROUP) : -1;
    assert(single === 2, `1:1 unread from X = ${single} (total ${u.totalCnt})`);
    assert(!groupId || group === 1, `group unread = ${group}`);
    return `1:1 from X: ${single}, group: ${group}, total ${u.totalCnt}`;
  });
  await check('status: X(TT) gets online notify when Y logs back in on ours', async () => {
    await waitFor('online notify', () => statusNotifies(xa, y.s.userId).filter((s) => s === 1).length >= 1);
    return `notifies for Y: ${statusNotifies(xa, y.s.userId).map((s) => STATUS[s]).join(',')}`;
  });

  // Duplicate logins across kinds.
  const yb = y2 as Client | null;
  if (yb) {
    let x3 = null as Client | null;
    await check('dup login: X(PC) on TT, X logs in on ours as PC → TT session kicked', async () => {
      x3 = track(await login(cfg.xName, 'ours'));
      const how = await kickOf(xa, 'the TT session');
      await waitFor('close', () => xa.closed, 3000).catch(() => undefined);
      return `${how}; closed: ${xa.closed ? 'yes' : 'no'}`;
    });
    const xo = x3 as Client | null;
    if (xo) {
      await check('dup login: new X session on ours works (X → Y)', () => sendAndDeliver(xo, yb, `after-kick ${Date.now()}`));
      let x4 = null as Client | null;
      await check('dup login: X logs in on TT as PC again → X session on ours kicked', async () => {
        x4 = track(await login(cfg.xName, 'tt'));
        const how = await kickOf(xo, 'the session on ours');
        await waitFor('close', () => xo.closed, 3000).catch(() => undefined);
        return `${how}; closed: ${xo.closed ? 'yes' : 'no'}`;
      });
      const xt = x4 as Client | null;
      if (xt) {
        await check('dup login: mobile X on ours does not kick PC X on TT', async () => {
          const m = track(await login(cfg.xName, 'ours', ClientType.ANDROID));
          await sleep(1500);
          assert(!xt.kicked.length && !xt.closed, `PC session on TT kicked/closed (${xt.kicked.length} kicks, closed ${xt.closed?.message})`);
          await m.s.close();
          return 'PC session stays';
        });
        await check('dup login: Y(PC) on ours, Y logs in on TT as PC → session on ours kicked', async () => {
          const yt = track(await login(cfg.yName, 'tt'));
          const how = await kickOf(yb, 'Y on ours');
          // and back: Y on ours again kicks the TT one
          const yo = track(await login(cfg.yName, 'ours'));
          const how2 = await kickOf(yt, 'Y on TT');
          await check('dup login: Y back on ours kicks Y on TT; Y on ours works (X(TT) → Y)', () => sendAndDeliver(xt, yo, `y-back ${Date.now()}`));
          return `${how}; reverse: ${how2}`;
        });
      }
    }
  }
}

// Default caps request on the TeamTalk msg_server.
await check('ImSession default caps on TeamTalk msg_server (CID_EXT_CLIENT_CAPS_REQ ignored)', async () => {
  const c = track(await login(cfg.xName, 'tt', ClientType.IOS, 'default'));
  const caps = await c.s.caps;
  await sleep(300);
  assert(!c.closed, `connection closed: ${c.closed?.message}`);
  return `caps in force: [${[...caps].join(',')}], connection stays`;
});

if (cfg.routeMetrics) {
  await check('route-server /metrics route_unknown_commands_total = 0', async () => {
    const text = await (await fetch(cfg.routeMetrics!)).text();
    const lines = text.split('\n').filter((l) => /^route_(unknown_commands_total|classic_links|login_servers|login_unknown_commands_total|login_bad_bodies_total)\b/.test(l));
    const unknown = Number(lines.find((l) => l.startsWith('route_unknown_commands_total'))?.split(' ')[1]);
    assert(unknown === 0, lines.join('; '));
    return lines.join('; ');
  });
}
const bad = logLines(/wrong cmd id|unknown cmd|wrong msg|HandlePdu error|!!!/);
record('TeamTalk logs: "wrong cmd id" / "unknown cmd" / "wrong msg" / "!!!" lines', bad.length === 0 ? true : null, bad.length ? `${bad.length}: ${[...new Set(bad)].slice(0, 8).join(' | ')}` : 'none');

finish();

function finish(): never {
  for (const c of open) c.s.destroy();
  const pass = rows.filter((r) => r.ok === true).length;
  const fail = rows.filter((r) => r.ok === false).length;
  console.log(`\n| check | result |\n| --- | --- |`);
  for (const r of rows) console.log(`| ${r.check} | ${r.ok === null ? 'note' : r.ok ? 'works' : 'FAILS'}: ${r.detail.replace(/\|/g, '\\|')} |`);
  console.log(`\nscenario ${scenario.toUpperCase()}: ${pass} works, ${fail} fail, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exit(fail ? 1 : 0);
}
