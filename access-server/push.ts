/**
 * Mobile push as TeamTalk's msg_server does it. After a message is stored,
 * the receivers' device tokens come from db-proxy
 * (CID_OTHER_GET_DEVICE_TOKEN_REQ); every token of a user other than the
 * sender goes to the push server (TeamTalk's push_server, its PDU protocol)
 * in CID_OTHER_PUSH_TO_USER_REQ with:
 * - flash: the preview line, "<nick>:<text>" (text opened from TeamTalk's
 *   sealed form), a fixed line for voice and for text that carries a
 *   picture, cut to 40 bytes with "..." on a character boundary;
 * - data: {"msg_type":…,"from_id":…[,"group_id":…]} for the app to open the
 *   conversation;
 * - push_type: silent (2) while a PC client of the receiver is logged in
 *   anywhere in the cluster, normal (1) otherwise.
 * Push is best effort, like TeamTalk's: with no push server up nothing is
 * queued, and a failure never touches the message, which is stored already.
 */
import type { Logger } from 'pino';
import { Cid, encodeBody, decodeBody } from '../proto/commands.ts';
import { encodePdu, type Pdu } from '../proto/header.ts';
import { isGroupMsgType, MsgType } from '../proto/conversation.ts';
import { decryptText, TEAMTALK_TEXT_KEY } from '../proto/text-crypto.ts';
import type { PeerAddress, PeerLinkTimings } from './config.ts';
import { PeerLink } from './peer-link.ts';
import { isMobile, UserStatus } from './conversation.ts';

/** IM_PUSH_TYPE_NORMAL / _SILENT. */
export const PushType = { NORMAL: 1, SILENT: 2 } as const;
/** TeamTalk's IOS_PUSH_FLASH_MAX_LENGTH, in bytes. */
const FLASH_MAX_BYTES = 40;
const ELLIPSIS = '...';
const GENERIC_FLASH = '您收到了一条消息';
/** TeamTalk's apps wrap a picture's URL in these. */
const PIC_PREFIX = '&$#@~^@[{:';
const PIC_SUFFIX = ':}]&$~@#@';
/** Messages whose push is being prepared at once; more are not pushed (counted skipped). */
const MAX_IN_FLIGHT = 64;
/** Receivers asked about per message (db-proxy's cap on one token request is far above). */
const MAX_RECEIVERS = 2_000;
/** Tokens per CID_OTHER_PUSH_TO_USER_REQ. */
const TOKENS_PER_REQUEST = 100;

export interface PushStats {
  /** Tokens pushed (in CID_OTHER_PUSH_TO_USER_REQ, up to TOKENS_PER_REQUEST each). */
  sent: number;
  /** Messages not pushed: no push server link was up, or MAX_IN_FLIGHT pushes were being prepared. */
  skipped: number;
  /** Token lookups or status checks that failed (the push was not sent). */
  failed: number;
}

export interface StoredMessage {
  fromUserId: number;
  toSessionId: number;
  msgId: number;
  msgType: number;
  msgData: Uint8Array;
}

export interface PushDeps {
  /** CID_OTHER_GET_DEVICE_TOKEN_REQ to db-proxy; resolves with the answer body. */
  deviceTokens(userIds: readonly number[]): Promise<{ userId: number; userType: number; token: string; pushCount: number }[]>;
  /** Those of `userIds` who shield (mute) group `groupId`: CID_OTHER_GET_SHIELD_REQ to db-proxy. */
  shielded(groupId: number, userIds: readonly number[]): Promise<ReadonlySet<number>>;
  /** Those of `uids` with a PC client logged in anywhere (route-servers; this server's sessions without them). */
  pcOnline(uids: readonly number[]): Promise<ReadonlySet<number>>;
  textKey?: Buffer;
  log: Logger;
}

/** The preview line TeamTalk's push carries. */
export function pushFlash(msgType: number, msgData: Uint8Array, nick: string | null, key: Buffer = TEAMTALK_TEXT_KEY): string {
  const audio = msgType === MsgType.SINGLE_AUDIO || msgType === MsgType.GROUP_AUDIO;
  const text = audio ? '' : (decryptText(msgData, key) ?? Buffer.from(msgData).toString('utf8'));
  const pre = text.indexOf(PIC_PREFIX);
  const suf = text.indexOf(PIC_SUFFIX);
  if ((pre >= 0 && suf >= 0 && pre < suf) || nick === null) return GENERIC_FLASH;
  let flash: string;
  if (msgType === MsgType.GROUP_AUDIO) flash = `${nick}在群聊中发送了一条语音消息`;
  else if (msgType === MsgType.SINGLE_AUDIO) flash = `${nick}给您发送了一条语音消息`;
  else flash = `${nick}:${text}`;
  return cutBytes(flash, FLASH_MAX_BYTES - ELLIPSIS.length, ELLIPSIS);
}

/** `s` when it is at most `max` bytes; otherwise its first whole characters within `max` bytes and `suffix`. */
function cutBytes(s: string, max: number, suffix: string): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out + suffix;
}

export class Pusher {
  readonly stats: PushStats = { sent: 0, skipped: 0, failed: 0 };
  private readonly links: PeerLink[];
  private inFlight = 0;

  constructor(addresses: readonly PeerAddress[], timings: PeerLinkTimings, private readonly d: PushDeps) {
    // TeamTalk's push_server speaks no handshake: the link goes without the cluster secret.
    const plain: PeerLinkTimings = { ...timings, secret: null };
    const log = d.log.child({ peer: 'push-server' });
    this.links = addresses.map(
      (a, i) =>
        new PeerLink(a, i, plain, log, {
          onOpen: () => undefined,
          onPdu: (_l, p) => this.onPdu(p),
          onDown: () => undefined,
        }),
    );
  }

  get configured(): boolean {
    return this.links.length > 0;
  }

  /**
   * After `m` was stored: push it to the device tokens of `receivers` (the
   * sender, and members who shield a group, left out). Never rejects; bounded
   * in messages prepared at once and receivers per message.
   */
  async afterStored(m: StoredMessage, receivers: readonly number[], senderNick: string | null): Promise<void> {
    if (this.links.length === 0) return;
    let others = receivers.filter((u) => u !== m.fromUserId).slice(0, MAX_RECEIVERS);
    if (others.length === 0) return;
    if (this.inFlight >= MAX_IN_FLIGHT || !this.links.some((l) => l.usable)) {
      this.stats.skipped++;
      return;
    }
    this.inFlight++;
    try {
      if (isGroupMsgType(m.msgType)) {
        const muted = await this.d.shielded(m.toSessionId, others);
        others = others.filter((u) => !muted.has(u));
        if (others.length === 0) return;
      }
      const tokens = (await this.d.deviceTokens(others)).filter((t) => t.userId !== m.fromUserId && t.token !== '');
      if (tokens.length === 0) return;
      let pc: ReadonlySet<number>;
      try {
        pc = await this.d.pcOnline([...new Set(tokens.map((t) => t.userId))]);
      } catch (err) {
        // Unknown: push as if no PC were on (a sound too many rather than a push too few).
        this.d.log.debug({ err }, 'PC status unknown for push; pushing normal');
        pc = new Set();
      }
      const flash = pushFlash(m.msgType, m.msgData, senderNick, this.d.textKey);
      const data = JSON.stringify({ msg_type: m.msgType, from_id: m.fromUserId, ...(isGroupMsgType(m.msgType) ? { group_id: m.toSessionId } : {}) });
      for (let i = 0; i < tokens.length; i += TOKENS_PER_REQUEST) {
        const userTokenList = tokens.slice(i, i + TOKENS_PER_REQUEST).map((t) => ({
          userId: t.userId,
          userType: t.userType,
          token: t.token,
          pushCount: t.pushCount,
          pushType: pc.has(t.userId) ? PushType.SILENT : PushType.NORMAL,
        }));
        const body = encodeBody(Cid.CID_OTHER_PUSH_TO_USER_REQ, { flash, data, userTokenList });
        const link = this.links.find((l) => l.usable);
        if (link && link.write(encodePdu({ commandId: Cid.CID_OTHER_PUSH_TO_USER_REQ }, body))) this.stats.sent += userTokenList.length;
        else this.stats.skipped++;
      }
    } catch (err) {
      this.stats.failed++;
      this.d.log.debug({ err, msgId: m.msgId, from: m.fromUserId }, 'push not sent');
    } finally {
      this.inFlight--;
    }
  }

  close(): void {
    for (const l of this.links) l.close();
  }

  private onPdu(p: Pdu): void {
    if (p.header.commandId !== Cid.CID_OTHER_PUSH_TO_USER_RSP) return;
    try {
      const rsp = decodeBody(Cid.CID_OTHER_PUSH_TO_USER_RSP, p.body);
      this.d.log.debug({ results: rsp.pushResultList.length }, 'push results');
    } catch (err) {
      this.d.log.warn({ err }, 'undecodable push result');
    }
  }
}

/** Those of `uids` with a PC client online: this server's own sessions, then the route-servers for the rest. */
export function pcOnlineVia(
  routeQuery: ((cid: number, msg: object, expect: number) => Promise<Record<string, unknown>>) | undefined,
  localClientTypes: (uid: number) => number[],
): (uids: readonly number[]) => Promise<ReadonlySet<number>> {
  return async (uids) => {
    const pc = new Set(uids.filter((u) => localClientTypes(u).some((t) => !isMobile(t))));
    const rest = uids.filter((u) => !pc.has(u));
    if (!routeQuery || rest.length === 0) return pc;
    const rsp = await routeQuery(Cid.CID_BUDDY_LIST_USERS_STATUS_REQUEST, { userId: 0, userIdList: rest }, Cid.CID_BUDDY_LIST_USERS_STATUS_RESPONSE);
    for (const s of (rsp.userStatList as { userId: number; status: number }[] | undefined) ?? []) if (s.status === UserStatus.ONLINE) pc.add(s.userId);
    return pc;
  };
}
