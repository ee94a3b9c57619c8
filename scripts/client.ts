/**
 * `npm run client` — a terminal TeamTalk client to chat with the cluster.
 *
 *   npm run client -- --user alice --password secret            interactive (/help)
 *   npm run client -- --user alice --password secret --send 2 "hello"
 *   npm run client -- --user alice --password secret --unread
 *   npm run client -- --user alice --password secret --history 2
 *   npm run client -- --create-user alice secret                 operator shortcut
 *
 * It logs in through a route-server's GET /msg_server (--route, default
 * http://127.0.0.1:10800) or straight to an access server (--host/--port).
 * Message text goes out sealed as TeamTalk's apps seal it (AES, base64:
 * proto/text-crypto.ts) under IM_AES_KEY (TeamTalk's key when unset), so
 * that they can read it; --plain-text sends plain UTF-8. Received and history text is opened when it is sealed. `--help` lists the
 * options.
 */
import { ImSession, SessionType } from '../proto/session.ts';
import { textKeyFromEnv } from '../proto/text-crypto.ts';
import { createUser, userDatabaseUrl } from './client/create-user.ts';
import { historyList, Names, unreadList } from './client/format.ts';
import { parseOptions, USAGE, type ClientOptions } from './client/options.ts';
import { runInteractive } from './client/repl.ts';

async function login(opts: ClientOptions): Promise<ImSession> {
  return ImSession.login({
    routeUrl: opts.routeUrl,
    host: opts.host,
    port: opts.port,
    userName: opts.user,
    password: opts.password,
    clientType: opts.clientType,
    clientVersion: 'teamtalk-ts-cli/0.1',
    textForm: opts.textForm,
    textKey: textKeyFromEnv(process.env),
  });
}

async function oneOff(session: ImSession, opts: ClientOptions): Promise<number> {
  const names = new Names(session);
  const action = opts.action;
  if (action.kind === 'send') {
    const t0 = performance.now();
    const msgId = await (action.group ? session.sendGroupText(action.to, action.text) : session.sendText(action.to, action.text));
    const ms = (performance.now() - t0).toFixed(1);
    const to = action.group ? `g:${action.to}` : String(action.to);
    console.log(msgId > 0 ? `ack: msg #${msgId} to ${to} stored (${ms} ms)` : `refused: msg to ${to} was not stored (msg_id 0)`);
    return msgId > 0 ? 0 : 1;
  }
  if (action.kind === 'unread') {
    const rsp = await session.unread();
    await names.load(rsp.unreadinfoList.map((u) => u.latestMsgFromUserId));
    console.log(unreadList(rsp, names));
    return 0;
  }
  if (action.kind === 'history') {
    const { peer, count } = action;
    const list = await session.history(peer.id, peer.group ? SessionType.GROUP : SessionType.SINGLE, 0, Math.min(count, 100));
    await names.load(list.map((m) => m.fromSessionId ?? 0));
    console.log(historyList(list, names));
    return 0;
  }
  return 2;
}

async function main(): Promise<number> {
  let opts: ClientOptions | null;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`client: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) return (console.log(USAGE), 0);
  const action = opts.action;
  if (action.kind === 'create-user') {
    const url = userDatabaseUrl(process.env);
    const uid = await createUser(url, action.name, action.password, action.nick);
    console.log(`created user ${action.name} with id ${uid} (database ${new URL(url).pathname.slice(1)} on ${new URL(url).host})`);
    console.log(`log in: npm run client -- --user ${action.name} --password '<password>'`);
    return 0;
  }
  const session = await login(opts);
  try {
    if (action.kind === 'interactive') {
      const names = new Names(session);
      return await runInteractive(session, names);
    }
    return await oneOff(session, opts);
  } finally {
    session.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as Error & { code?: string };
    console.error(`client: ${e.message ?? String(err)}${e.code ? ` (${e.code})` : ''}`);
    if (e.code === 'IM_ERR_CONNECTION_CLOSED') console.error('client: is the cluster running? `npm start` in another shell starts it');
    process.exit(1);
  },
);
