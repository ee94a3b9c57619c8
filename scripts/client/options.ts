/** Command line of `npm run client`, validated. */
import { parseArgs } from 'node:util';
import { ClientType } from '../../proto/session.ts';

export const DEFAULT_ROUTE_URL = 'http://127.0.0.1:10800';

export const USAGE = `usage: npm run client -- [where] --user NAME --password PASSWORD [action]

where (default --route ${DEFAULT_ROUTE_URL}):
  --route URL          ask this route-server (GET /msg_server) which access server to use
  --host H --port P    connect to this access server directly
  --client pc|mac|ios|android   client type sent at login (default pc)
  --plain-text         send message text as plain UTF-8, not sealed as TeamTalk's
                       apps seal it (received text is opened either way)

action (default: an interactive prompt, /help lists its commands):
  --send UID TEXT      send one message, print the ack, exit
  --send-group GID TEXT
  --unread             print unread counts, exit
  --history UID|g:GID  print the last --count messages (default 20), exit

operator shortcut (no TeamTalk command registers users):
  --create-user NAME PASSWORD [--nick NICK]
                       insert a user straight into MySQL (MYSQL_URL, else the
                       database of the stack \`npm start\` runs), TeamTalk's
                       password scheme; prints the new user id`;

export type Action =
  | { kind: 'interactive' }
  | { kind: 'send'; to: number; group: boolean; text: string }
  | { kind: 'unread' }
  | { kind: 'history'; peer: Peer; count: number }
  | { kind: 'create-user'; name: string; password: string; nick: string };

/** A conversation: a user or a group. */
export interface Peer {
  id: number;
  group: boolean;
}

export interface ClientOptions {
  routeUrl: string | undefined;
  host: string | undefined;
  port: number | undefined;
  user: string;
  password: string;
  clientType: number;
  /** Text goes out as TeamTalk's apps send it (sealed), unless --plain-text. */
  textForm: 'plain' | 'teamtalk';
  action: Action;
}

const CLIENT_TYPES: Record<string, number> = { pc: ClientType.WINDOWS, mac: ClientType.MAC, ios: ClientType.IOS, android: ClientType.ANDROID };

/** `12` is user 12, `g:7` group 7; null when neither. */
export function parsePeer(text: string | undefined): Peer | null {
  const m = /^(g:)?(\d{1,10})$/.exec(text ?? '');
  if (!m) return null;
  const id = Number(m[2]);
  return id > 0 && id <= 0xffffffff ? { id, group: m[1] !== undefined } : null;
}

function id(text: string | undefined, what: string): number {
  const p = parsePeer(text);
  if (!p || p.group) throw new Error(`${what}: expected a numeric id, got ${JSON.stringify(text)}`);
  return p.id;
}

/** Parsed options, or null for --help. Throws with a message on bad input. */
export function parseOptions(argv: string[]): ClientOptions | null {
  const str = { type: 'string' } as const;
  const bool = { type: 'boolean' } as const;
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      route: str, host: str, port: str, user: str, password: str, client: str, nick: str, count: str,
      send: str, 'send-group': str, history: str, 'create-user': str, unread: bool, help: bool, 'plain-text': bool,
    },
  });
  if (v.help) return null;
  const text = positionals.join(' ');
  let action: Action = { kind: 'interactive' };
  if (v['create-user'] !== undefined) {
    if (positionals.length !== 1) throw new Error('--create-user NAME PASSWORD');
    return {
      routeUrl: undefined, host: undefined, port: undefined, user: '', password: '', clientType: ClientType.WINDOWS, textForm: 'teamtalk',
      action: { kind: 'create-user', name: v['create-user'], password: positionals[0]!, nick: v.nick ?? v['create-user'] },
    };
  }
  if (v.send !== undefined) action = { kind: 'send', to: id(v.send, '--send'), group: false, text };
  else if (v['send-group'] !== undefined) action = { kind: 'send', to: id(v['send-group'], '--send-group'), group: true, text };
  else if (v.unread) action = { kind: 'unread' };
  else if (v.history !== undefined) {
    const peer = parsePeer(v.history);
    if (!peer) throw new Error(`--history: expected UID or g:GID, got ${v.history}`);
    action = { kind: 'history', peer, count: v.count === undefined ? 20 : id(v.count, '--count') };
  }
  if (action.kind === 'send' && text === '') throw new Error('--send needs the text after the id');
  if (action.kind !== 'send' && positionals.length > 0) throw new Error(`unexpected argument ${positionals[0]}`);
  if (!v.user || v.password === undefined) throw new Error('--user and --password are required');
  const clientType = CLIENT_TYPES[v.client ?? 'pc'];
  if (clientType === undefined) throw new Error(`--client: one of ${Object.keys(CLIENT_TYPES).join('|')}`);
  const port = v.port === undefined ? undefined : Number(v.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65_536)) throw new Error(`--port: ${v.port}`);
  const direct = v.host !== undefined || port !== undefined;
  if (direct && port === undefined) throw new Error('--host needs --port');
  return {
    routeUrl: direct ? undefined : (v.route ?? DEFAULT_ROUTE_URL),
    host: v.host,
    port,
    user: v.user,
    password: v.password,
    clientType,
    textForm: v['plain-text'] ? 'plain' : 'teamtalk',
    action,
  };
}
