/**
 * The interactive prompt of `npm run client`: commands on stdin, incoming
 * messages printed above the prompt as they arrive (the line being typed is
 * redrawn, not garbled).
 */
import { clearLine, createInterface, cursorTo } from 'node:readline';
import { SessionType, type ImSession } from '../../proto/session.ts';
import { groupList, historyList, idsIn, incoming, notify, recentList, unreadList, type Names } from './format.ts';
import { parsePeer, type Peer } from './options.ts';

export const HELP = `commands:
  /to <uid> <text>        send to a user (also: @<uid> <text>); plain text then goes to the same peer
  /group <gid> <text>     send to a group; plain text then goes to that group
  /unread                 unread counts per conversation
  /history <uid|g:gid> [n]  the last n messages (default 20)
  /read <uid|g:gid>       mark a conversation read up to its latest message
  /groups                 your groups and their members
  /newgroup <name> <uid,uid,...>  create a (temporary) group with you in it
  /recent                 recent conversations
  /help                   this text
  /quit                   log out and leave`;

type Command = (args: string[], rest: string) => Promise<string | undefined>;

/** Runs the prompt until /quit, a kick or a lost connection; resolves with the exit code. */
export function runInteractive(session: ImSession, names: Names): Promise<number> {
  const tty = process.stdout.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: `${session.user.userDomain || session.userId}> `, terminal: tty });
  let current: Peer | null = null;
  let done = false;
  let output = Promise.resolve();
  /** Prints above the prompt, in order, after the names a line needs are loaded. */
  const print = (make: () => string | undefined, ids: number[] = []): void => {
    output = output.then(async () => {
      await names.load(ids);
      const line = make();
      if (line === undefined) return;
      if (tty) {
        clearLine(process.stdout, 0);
        cursorTo(process.stdout, 0);
      }
      process.stdout.write(`${line}\n`);
      if (tty && !done) rl.prompt(true);
    });
  };

  const send = async (peer: Peer, text: string): Promise<string> => {
    current = peer;
    if (text.trim() === '') return `now talking to ${peer.group ? `g:${peer.id}` : names.of(peer.id)}`;
    const msgId = await (peer.group ? session.sendGroupText(peer.id, text) : session.sendText(peer.id, text));
    return msgId > 0 ? `  ✓ #${msgId}` : '  ✗ refused by the server (not stored)';
  };
  const needPeer = (text: string | undefined): Peer => {
    const p = parsePeer(text);
    if (!p) throw new Error(`expected <uid> or g:<gid>, got ${JSON.stringify(text ?? '')}`);
    return p;
  };
  const type = (p: Peer): number => (p.group ? SessionType.GROUP : SessionType.SINGLE);

  const commands: Record<string, Command> = {
    to: async (a, rest) => send({ ...needPeer(a[0]), group: false }, rest),
    group: async (a, rest) => send({ id: needPeer(a[0]?.replace(/^g:/, '')).id, group: true }, rest),
    unread: async () => {
      const rsp = await session.unread();
      await names.load(rsp.unreadinfoList.map((u) => u.latestMsgFromUserId));
      return unreadList(rsp, names);
    },
    history: async (a) => {
      const peer = needPeer(a[0]);
      const list = await session.history(peer.id, type(peer), 0, a[1] ? Math.min(Number(a[1]) || 20, 100) : 20);
      await names.load(list.map((m) => m.fromSessionId ?? 0));
      return historyList(list, names);
    },
    read: async (a) => {
      const peer = needPeer(a[0]);
      const latest = await session.latestMsgId(peer.id, type(peer));
      if (latest === 0) return 'nothing to mark read';
      session.markRead(peer.id, type(peer), latest);
      return `marked read up to #${latest}`;
    },
    groups: async () => {
      // Normal groups come from the group list; temporary ones only show up as recent sessions.
      const [normal, recent] = await Promise.all([session.groups(), session.recentSessions()]);
      const known = new Set(normal.map((g) => g.groupId));
      const temporary = recent.filter((s) => s.sessionType === SessionType.GROUP && !known.has(s.sessionId)).map((s) => s.sessionId ?? 0);
      return groupList([...normal, ...(await session.groupInfo(temporary))]);
    },
    newgroup: async (a) => {
      const members = (a[1] ?? '').split(',').filter(Boolean).map(Number);
      if (!a[0] || members.some((m) => !Number.isInteger(m) || m <= 0)) throw new Error('/newgroup <name> <uid,uid,...>');
      const rsp = await session.createGroup(a[0], [...new Set([session.userId, ...members])]);
      return rsp.resultCode === 0 ? `created g:${rsp.groupId} with ${rsp.userIdList.join(',')}` : `refused (result ${rsp.resultCode})`;
    },
    recent: async () => {
      const list = await session.recentSessions();
      await names.load(list.flatMap((s) => [s.sessionId ?? 0, s.latestMsgFromUserId ?? 0]));
      return recentList(list, names);
    },
    help: async () => HELP,
  };

  return new Promise<number>((resolve) => {
    let quitting = false;
    const working = new Set<Promise<unknown>>();
    const finish = (code: number, line?: string): void => {
      if (done) return;
      done = true;
      if (line) print(() => line);
      void Promise.allSettled(working).then(() => output).then(() => {
        rl.close();
        resolve(code);
      });
    };
    session.on('message', (m) => print(() => incoming(m, names), [m.fromUserId, m.group ? 0 : m.toSessionId]));
    session.on('notify', (r) => print(() => notify(r, names), idsIn(r)));
    session.on('kicked', (k) => finish(2, `kicked: ${k.kickReason === 1 ? 'this user logged in somewhere else' : `reason ${k.kickReason}`}`));
    session.on('close', (err) => {
      if (!quitting) finish(1, `connection closed: ${err.message}`);
    });
    rl.on('close', () => finish(0));
    rl.on('line', (raw) => {
      const line = raw.trim();
      if (line === '') return rl.prompt();
      if (line === '/quit' || line === '/exit') {
        quitting = true;
        const bye = session.logout().catch(() => undefined).then(() => finish(0, 'bye'));
        working.add(bye);
        return;
      }
      const at = /^@(\S+)\s*(.*)$/.exec(line);
      const cmd = /^\/(\w+)\s*(.*)$/.exec(line);
      let work: Promise<string | undefined>;
      if (at) work = commands.to!([at[1]!], at[2]!);
      else if (cmd) {
        const [name, rest] = [cmd[1]!, cmd[2]!];
        const args = rest.split(/\s+/).filter(Boolean);
        const handler = commands[name];
        const text = name === 'to' || name === 'group' ? rest.replace(/^\S+\s?/, '') : rest;
        work = handler ? handler(args, text) : Promise.resolve(`unknown command /${name}; /help lists them`);
      } else if (current) work = send(current, line);
      else work = Promise.resolve('say who to: /to <uid> <text>, @<uid> <text> or /group <gid> <text>');
      const shown = work.then(
        (out) => print(() => out),
        (err: unknown) => print(() => `error: ${err instanceof Error ? err.message : String(err)}`),
      );
      working.add(shown);
      void shown.then(() => working.delete(shown));
    });
    print(() => `logged in as ${session.user.userNickName || session.user.userDomain} (user ${session.userId}) on ${session.server}; /help lists commands`);
  });
}
