/**
 * A TeamTalk client session on top of PduClient: log in (optionally asking a
 * route-server's GET /msg_server which access server to use), send and
 * receive chat messages, pull unread counts, history, groups and recent
 * sessions, log out.
 *
 *   const s = await ImSession.login({ routeUrl: 'http://127.0.0.1:10800', userName: 'alice', password: 'secret' });
 *   s.on('message', (m) => console.log(m.fromUserId, m.text));
 *   const msgId = await s.sendText(2, 'hello'); // 0: the server refused it
 *
 * Passwords are sent as md5hex(password), like TeamTalk clients. Message
 * text: TeamTalk clients seal msg_data with their AES key and send it
 * base64-encoded (proto/text-crypto.ts). This session seals text the same
 * way (`textForm: "plain"` sends the UTF-8 bytes as they are instead), and
 * opens received msg_data in that form whatever it sends (anything else
 * is decoded as UTF-8; `data` keeps the raw bytes). The server stores msg_data as text (IMMessage.content is a
 * utf8mb4 varchar), so `send` with raw binary that is not valid UTF-8 is
 * refused (msg id 0); both clients' forms are valid text.
 *
 * Right after login the session asks for the capabilities in `caps`
 * (default "refusal-ack": a message that is not stored resolves `send` with
 * 0), without waiting: our access server takes a connection's requests in
 * order, so what is sent next is already served by them. A server that
 * ignores the request (a TeamTalk msg_server) or accepts none serves the
 * session as a TeamTalk client: a refused message gets no answer and `send`
 * rejects with IM_ERR_TIMEOUT. `caps` resolves with what is in force.
 *
 * Events: `message` (IncomingMessage), `kicked` (IM.Login.IMKickUser),
 * `notify` (any other push), `close` (Error).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ErrorCode, ImError } from '../common/errors.ts';
import { ClientCap } from './caps.ts';
import { PduClient, type Received } from './client.ts';
import { Cid } from './commands.ts';
import type { IM } from './messages.ts';
import { findMsgServer } from './msg-server-lookup.ts';
import { isGroupMsgType, MsgType, SessionType } from './conversation.ts';
import { decryptText, encryptText, TEAMTALK_TEXT_KEY } from './text-crypto.ts';

export { findMsgServer };
export const ClientType = { WINDOWS: 0x01, MAC: 0x02, IOS: 0x11, ANDROID: 0x12 } as const;
export { isGroupMsgType, MsgType, SessionType } from './conversation.ts';
const USER_STATUS_ONLINE = 1;
const GROUP_TYPE_TMP = 2;
/** How long the capabilities answer is waited for; a TeamTalk msg_server never gives one. */
const CAPS_WAIT_MS = 2_000;

export interface LoginOptions {
  /** A route-server's base URL; its GET /msg_server names the access server. */
  routeUrl?: string;
  /** The access server itself (when no routeUrl). */
  host?: string;
  port?: number;
  userName: string;
  /** Plain password; md5hex(password) goes on the wire. */
  password: string;
  /** IM.BaseDefine.ClientType; default WINDOWS. */
  clientType?: number;
  clientVersion?: string;
  /** Default 30 s, as TeamTalk clients; 0 disables. */
  heartbeatIntervalMs?: number;
  requestTimeoutMs?: number;
  /** Answer each received message with CID_MSG_DATA_ACK, as TeamTalk clients do (default true). */
  ackReceived?: boolean;
  /** Capabilities to ask for after login (proto/caps.ts); default ["refusal-ack"], [] asks for none (a TeamTalk client). */
  caps?: readonly string[];
  /**
   * How sendText / sendGroupText put text into msg_data: "teamtalk"
   * (default: sealed as TeamTalk's apps seal it, proto/text-crypto.ts, so
   * that they can read it) or "plain" (its UTF-8 bytes).
   */
  textForm?: 'plain' | 'teamtalk';
  /** The 32-byte key of the "teamtalk" form (default: the key TeamTalk's clients are built with; textKeyFromEnv reads IM_AES_KEY). */
  textKey?: Buffer;
}

export interface IncomingMessage {
  fromUserId: number;
  /** Peer user id (it is you, unless this is a copy of your own message) or group id. */
  toSessionId: number;
  msgId: number;
  createTime: number;
  msgType: number;
  group: boolean;
  data: Buffer;
  /** The text: msg_data opened when it is in TeamTalk's sealed form, otherwise decoded as UTF-8. */
  text: string;
}

export interface ImSessionEvents {
  message: [IncomingMessage];
  kicked: [IM.Login.IMKickUser];
  notify: [Received];
  close: [Error];
}

/** A login refused by the server; `resultCode` is its IM.BaseDefine.ResultType (-1: none was reached). */
export class LoginRefusedError extends ImError {
  constructor(message: string, readonly resultCode: number) {
    super(ErrorCode.LOGIN_REFUSED, message);
  }
}

export const md5hex = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');

export class ImSession extends EventEmitter<ImSessionEvents> {
  /** Capabilities the server accepted (proto/caps.ts); empty when it ignored the request or the connection closed first. */
  readonly caps: Promise<ReadonlySet<string>>;

  private constructor(
    private readonly client: PduClient,
    /** The logged-in user as the server returned it. */
    readonly user: IM.BaseDefine.IUserInfo,
    /** host:port of the access server. */
    readonly server: string,
    private readonly ackReceived: boolean,
    wantedCaps: readonly string[],
    capsWaitMs: number,
    private readonly textForm: 'plain' | 'teamtalk' = 'teamtalk',
    private readonly textKey: Buffer = TEAMTALK_TEXT_KEY,
  ) {
    super();
    this.caps = askCaps(client, wantedCaps, capsWaitMs);
    client.on('push', (r: Received) => this.onPush(r));
    client.once('close', (err: Error) => this.emit('close', err));
  }

  static async login(opts: LoginOptions): Promise<ImSession> {
    let { host, port } = opts;
    if (opts.routeUrl !== undefined) ({ host, port } = await findMsgServer(opts.routeUrl, opts.requestTimeoutMs));
    if (port === undefined) throw new ImError(ErrorCode.BAD_CONFIG, 'login needs routeUrl or port');
    const client = await PduClient.connect({ host, port, heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 30_000, requestTimeoutMs: opts.requestTimeoutMs });
    try {
      const res = await client.request(Cid.CID_LOGIN_REQ_USERLOGIN, {
        userName: opts.userName,
        password: md5hex(opts.password),
        onlineStatus: USER_STATUS_ONLINE,
        clientType: opts.clientType ?? ClientType.WINDOWS,
        clientVersion: opts.clientVersion ?? 'teamtalk-ts-session/0.1',
      });
      const rsp = res.message as IM.Login.IMLoginRes;
      if (rsp.resultCode !== 0 || !rsp.userInfo) {
        throw new LoginRefusedError(`login refused (${rsp.resultCode}): ${rsp.resultString || 'no reason given'}`, rsp.resultCode);
      }
      const capsWaitMs = Math.min(opts.requestTimeoutMs ?? CAPS_WAIT_MS, CAPS_WAIT_MS);
      return new ImSession(client, rsp.userInfo, `${host ?? '127.0.0.1'}:${port}`, opts.ackReceived ?? true, opts.caps ?? [ClientCap.REFUSAL_ACK], capsWaitMs, opts.textForm, opts.textKey);
    } catch (err) {
      client.destroy();
      throw err;
    }
  }

  get userId(): number {
    return this.user.userId ?? 0;
  }

  /** Sends a 1:1 text; resolves with the msg id of the ack (0: refused). */
  sendText(toUserId: number, text: string): Promise<number> {
    return this.send(toUserId, MsgType.SINGLE_TEXT, this.seal(text));
  }

  /** Sends a group text; resolves with the msg id of the ack (0: refused). */
  sendGroupText(groupId: number, text: string): Promise<number> {
    return this.send(groupId, MsgType.GROUP_TEXT, this.seal(text));
  }

  /** Sends any CID_MSG_DATA; resolves with CID_MSG_DATA_ACK's msg id on the same seq. */
  async send(toSessionId: number, msgType: number, data: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<number> {
    const msg = { fromUserId: this.userId, toSessionId, msgId: 0, createTime: Math.floor(Date.now() / 1000), msgType, msgData: data };
    const res = await this.client.request(Cid.CID_MSG_DATA, msg, { expect: Cid.CID_MSG_DATA_ACK, timeoutMs: opts.timeoutMs });
    return (res.message as IM.Message.IMMsgDataAck).msgId;
  }

  /** CID_SWITCH_P2P_CMD (no answer): a client-to-client signal such as "typing", relayed by the server. */
  p2p(toUserId: number, data: string): void {
    this.client.send(Cid.CID_SWITCH_P2P_CMD, { fromUserId: this.userId, toUserId, cmdMsgData: data });
  }

  async unread(): Promise<IM.Message.IMUnreadMsgCntRsp> {
    const res = await this.client.request(Cid.CID_MSG_UNREAD_CNT_REQUEST, { userId: this.userId });
    return res.message as IM.Message.IMUnreadMsgCntRsp;
  }

  /** Up to `count` messages with msg id ≤ fromMsgId (0: from the latest), newest first. */
  async history(peer: number, sessionType: number, fromMsgId = 0, count = 20): Promise<IM.BaseDefine.IMsgInfo[]> {
    const req = { userId: this.userId, sessionType, sessionId: peer, msgIdBegin: fromMsgId, msgCnt: count };
    const res = await this.client.request(Cid.CID_MSG_LIST_REQUEST, req);
    return (res.message as IM.Message.IMGetMsgListRsp).msgList;
  }

  async latestMsgId(peer: number, sessionType: number): Promise<number> {
    const res = await this.client.request(Cid.CID_MSG_GET_LATEST_MSG_ID_REQ, { userId: this.userId, sessionType, sessionId: peer });
    return (res.message as IM.Message.IMGetLatestMsgIdRsp).latestMsgId;
  }

  /** Marks a conversation read up to msgId (CID_MSG_READ_ACK has no answer). */
  markRead(peer: number, sessionType: number, msgId: number): void {
    this.client.send(Cid.CID_MSG_READ_ACK, { userId: this.userId, sessionId: peer, msgId, sessionType });
  }

  /** The user's normal groups with their details (TeamTalk lists temporary groups through recent sessions only). */
  async groups(): Promise<IM.BaseDefine.IGroupInfo[]> {
    const list = await this.client.request(Cid.CID_GROUP_NORMAL_LIST_REQUEST, { userId: this.userId });
    return this.groupInfo((list.message as IM.Group.IMNormalGroupListRsp).groupVersionList.map((v) => v.groupId));
  }

  /** Details and members of groups by id. */
  async groupInfo(groupIds: number[]): Promise<IM.BaseDefine.IGroupInfo[]> {
    if (groupIds.length === 0) return [];
    const groupVersionList = groupIds.map((groupId) => ({ groupId, version: 0 }));
    const info = await this.client.request(Cid.CID_GROUP_INFO_REQUEST, { userId: this.userId, groupVersionList });
    return (info.message as IM.Group.IMGroupInfoListRsp).groupInfoList;
  }

  /** Creates a group (temporary by default: what TeamTalk lets clients create). */
  async createGroup(name: string, memberIds: number[], opts: { type?: number; avatar?: string } = {}): Promise<IM.Group.IMGroupCreateRsp> {
    const res = await this.client.request(Cid.CID_GROUP_CREATE_REQUEST, {
      userId: this.userId,
      groupType: opts.type ?? GROUP_TYPE_TMP,
      groupName: name,
      groupAvatar: opts.avatar ?? '',
      memberIdList: memberIds,
    });
    return res.message as IM.Group.IMGroupCreateRsp;
  }

  async recentSessions(latestUpdateTime = 0): Promise<IM.BaseDefine.IContactSessionInfo[]> {
    const res = await this.client.request(Cid.CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, { userId: this.userId, latestUpdateTime });
    return (res.message as IM.Buddy.IMRecentContactSessionRsp).contactSessionList;
  }

  /** Users' profiles (nick names etc.) by id. */
  async usersInfo(ids: number[]): Promise<IM.BaseDefine.IUserInfo[]> {
    const res = await this.client.request(Cid.CID_BUDDY_LIST_USER_INFO_REQUEST, { userId: this.userId, userIdList: ids });
    return (res.message as IM.Buddy.IMUsersInfoRsp).userInfoList;
  }

  /** Logs out (waits for the answer, at most the request timeout), then closes. */
  async logout(): Promise<void> {
    try {
      await this.client.request(Cid.CID_LOGIN_REQ_LOGINOUT, {});
    } finally {
      await this.close();
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
  destroy(): void {
    this.client.destroy();
  }

  /** Text of a msg_data: opened when it is in TeamTalk's sealed form under this session's key, else read as UTF-8. */
  openText(data: Uint8Array): string {
    return decryptText(data, this.textKey) ?? Buffer.from(data).toString('utf8');
  }

  private seal(text: string): Buffer {
    return this.textForm === 'teamtalk' ? encryptText(text, this.textKey) : Buffer.from(text, 'utf8');
  }

  private onPush(r: Received): void {
    if (r.commandId === Cid.CID_MSG_DATA && r.message) {
      const m = r.message as IM.Message.IMMsgData;
      const data = Buffer.from(m.msgData);
      const group = isGroupMsgType(m.msgType);
      const text = (m.msgType === MsgType.SINGLE_AUDIO || m.msgType === MsgType.GROUP_AUDIO) ? data.toString('utf8') : this.openText(data);
      const incoming: IncomingMessage = { ...pick(m), group, data, text };
      if (this.ackReceived && m.fromUserId !== this.userId) {
        const sessionId = group ? m.toSessionId : m.fromUserId;
        const sessionType = group ? SessionType.GROUP : SessionType.SINGLE;
        this.client.send(Cid.CID_MSG_DATA_ACK, { userId: this.userId, sessionId, msgId: m.msgId, sessionType });
      }
      this.emit('message', incoming);
    } else if (r.commandId === Cid.CID_LOGIN_KICK_USER && r.message) {
      this.emit('kicked', r.message as IM.Login.IMKickUser);
    } else if (r.commandId !== Cid.CID_OTHER_HEARTBEAT) {
      this.emit('notify', r);
    }
  }
}

/** Asks for `wanted` (nothing when empty); no answer in time, or a closed connection, accepted none. */
async function askCaps(client: PduClient, wanted: readonly string[], timeoutMs: number): Promise<ReadonlySet<string>> {
  if (wanted.length === 0) return new Set();
  try {
    const res = await client.request(Cid.CID_EXT_CLIENT_CAPS_REQ, { caps: [...wanted] }, { timeoutMs });
    return new Set((res.message as IM.Ext.IMClientCapsRsp | null)?.caps ?? []);
  } catch {
    return new Set();
  }
}

function pick(m: IM.Message.IMMsgData): Omit<IncomingMessage, 'group' | 'data' | 'text'> {
  return { fromUserId: m.fromUserId, toSessionId: m.toSessionId, msgId: m.msgId, createTime: m.createTime, msgType: m.msgType };
}
