/** How the terminal client shows messages, unread counts, history, groups and sessions. */
import type { Received } from '../../proto/client.ts';
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import type { ImSession, IncomingMessage } from '../../proto/session.ts';

const SESSION_GROUP = 2;
const AUDIO_TYPES = new Set([0x02, 0x12]);

/** Nick names by user id, looked up once (CID_BUDDY_LIST_USER_INFO_REQUEST); the id alone when unknown. */
export class Names {
  private readonly known = new Map<number, string>();

  readonly me: number;

  constructor(private readonly session: ImSession) {
    this.me = session.userId;
    this.known.set(this.me, 'you');
  }

  /** Looks up the ids not known yet; failures leave them as bare ids. */
  async load(ids: Iterable<number>): Promise<void> {
    const missing = [...new Set(ids)].filter((i) => i > 0 && !this.known.has(i));
    if (missing.length === 0) return;
    try {
      for (const u of await this.session.usersInfo(missing)) {
        if (u.userId) this.known.set(u.userId, u.userNickName || u.userDomain || String(u.userId));
      }
    } catch {
      // Names are a nicety: the ids still identify everyone.
    }
    for (const i of missing) if (!this.known.has(i)) this.known.set(i, '');
  }

  /** A message's text as this session opens it (its IM_AES_KEY). */
  open(data: Uint8Array): string {
    return this.session.openText(data);
  }

  of(uid: number): string {
    const name = this.known.get(uid);
    return name === 'you' ? 'you' : name ? `${name}(${uid})` : `user ${uid}`;
  }
}

export function clock(unixSeconds: number): string {
  const d = unixSeconds > 0 ? new Date(unixSeconds * 1000) : new Date();
  return d.toTimeString().slice(0, 8);
}

function text(msgType: number, data: Uint8Array, names: Names): string {
  if (AUDIO_TYPES.has(msgType)) return `[voice message, ${data.length} bytes]`;
  // Control characters (other than tab and newline) would move the cursor or recolour the terminal.
  return [...names.open(data)].map((c) => (isControl(c.charCodeAt(0)) ? '?' : c)).join('');
}

function isControl(code: number): boolean {
  return (code < 0x20 && code !== 0x09 && code !== 0x0a) || code === 0x7f || (code >= 0x80 && code < 0xa0);
}

/** "g:7" for a group, "12" for a user: what the commands accept. */
export function peerRef(id: number, sessionType: number): string {
  return sessionType === SESSION_GROUP ? `g:${id}` : String(id);
}

export function incoming(m: IncomingMessage, names: Names): string {
  const where = m.group ? ` in g:${m.toSessionId}` : m.fromUserId === names.me ? ` → ${names.of(m.toSessionId)}` : '';
  return `[${clock(m.createTime)}] ${names.of(m.fromUserId)}${where} #${m.msgId}: ${text(m.msgType, m.data, names)}`;
}

export function unreadList(rsp: IM.Message.IMUnreadMsgCntRsp, names: Names): string {
  if (rsp.unreadinfoList.length === 0) return 'no unread messages';
  const lines = rsp.unreadinfoList.map(
    (u) =>
      `  ${peerRef(u.sessionId, u.sessionType).padEnd(8)} ${String(u.unreadCnt).padStart(4)} unread, latest #${u.latestMsgId} ` +
      `from ${names.of(u.latestMsgFromUserId)}: ${text(u.latestMsgType, u.latestMsgData, names)}`,
  );
  return [`${rsp.totalCnt} unread:`, ...lines].join('\n');
}

/** History comes newest first; it is shown oldest first, like a chat. */
export function historyList(list: IM.BaseDefine.IMsgInfo[], names: Names): string {
  if (list.length === 0) return 'no messages';
  return [...list]
    .reverse()
    .map((m) => `[${clock(m.createTime ?? 0)}] ${names.of(m.fromSessionId ?? 0)} #${m.msgId}: ${text(m.msgType ?? 1, m.msgData ?? new Uint8Array(), names)}`)
    .join('\n');
}

export function groupList(groups: IM.BaseDefine.IGroupInfo[]): string {
  if (groups.length === 0) return 'no groups';
  return groups
    .map((g) => `  g:${g.groupId} ${g.groupName} (${g.groupType === 1 ? 'normal' : 'temporary'}, ${g.groupMemberList?.length ?? 0} members: ${(g.groupMemberList ?? []).join(',')})`)
    .join('\n');
}

export function recentList(list: IM.BaseDefine.IContactSessionInfo[], names: Names): string {
  if (list.length === 0) return 'no recent sessions';
  return list
    .map((s) => {
      const who = s.sessionType === SESSION_GROUP ? `g:${s.sessionId}` : names.of(s.sessionId ?? 0);
      const last = text(s.latestMsgType ?? 1, s.latestMsgData ?? new Uint8Array(), names);
      return `  ${who} [${clock(s.updatedTime ?? 0)}] #${s.latestMsgId} ${names.of(s.latestMsgFromUserId ?? 0)}: ${last}`;
    })
    .join('\n');
}

/** User ids a push names (so their names can be looked up before it is shown). */
export function idsIn(r: Received): number[] {
  const m = r.message as { userStat?: { userId?: number }; userId?: number } | null;
  return [m?.userStat?.userId ?? 0, m?.userId ?? 0];
}

/** A push that is not a chat message: read notifies, presence, kicks, anything else by name. */
export function notify(r: Received, names: Names): string {
  const m = r.message as Record<string, unknown> | null;
  if (r.commandId === Cid.CID_MSG_READ_NOTIFY && m) {
    const n = m as unknown as IM.Message.IMMsgDataReadNotify;
    return `(read on another device: ${peerRef(n.sessionId, n.sessionType)} up to #${n.msgId})`;
  }
  if (r.commandId === Cid.CID_BUDDY_LIST_STATUS_NOTIFY && m) {
    const s = (m as unknown as IM.Buddy.IMUserStatNotify).userStat;
    return `(${names.of(s.userId)} is ${s.status === 1 ? 'online' : s.status === 2 ? 'offline' : 'away'})`;
  }
  const body = m ? JSON.stringify(m, (_k, v: unknown) => (Buffer.isBuffer(v) ? `<${v.length} bytes>` : v)) : '';
  return `(push 0x${r.commandId.toString(16).padStart(4, '0')} ${body.slice(0, 300)})`;
}
