import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { perRequest, type Handler, type HandlerContext } from './types.ts';

type ShieldReq = IM.Login.IIMPushShieldReq;
type QueryShieldReq = IM.Login.IIMQueryPushShieldReq;
type TokenReq = IM.Login.IIMDeviceTokenReq;
type GetTokensReq = IM.Server.IIMGetDeviceTokenReq;

const CLIENT_IOS = 0x11;
const CLIENT_ANDROID = 0x12;
/** Ids asked for in one CID_OTHER_GET_DEVICE_TOKEN_REQ, beyond which the rest are ignored. */
const MAX_TOKEN_USERS = 10_000;
const MAX_TOKEN_CHARS = 512;

/**
 * Device tokens, TeamTalk's Redis layout: `device_{userId}` holds
 * "ios:<token>", "android:<token>" or a bare token (other clients), and
 * `device_{token}` holds the user id, so a token moving to another
 * account can be found. They live on the token Redis (REDIS_URL_TOKEN,
 * TeamTalk's `token` cache pool; REDIS_URL unless set).
 */
const userKey = (userId: number | string): string => `device_${userId}`;
const tokenKey = (token: string): string => `device_${token}`;

/** CID_LOGIN_REQ_PUSH_SHIELD: IMUser.push_shield_status; result 0 with the new status, 1 for an unknown user or a status other than 0/1. */
const pushShield = perRequest<ShieldReq>(
  Cid.CID_LOGIN_REQ_PUSH_SHIELD,
  async (ctx, req) => {
    const status = req.shieldStatus!;
    if (status !== 0 && status !== 1) return shieldAnswer(Cid.CID_LOGIN_RES_PUSH_SHIELD, req, null);
    const res = await ctx.mysql.query<{ affectedRows: number }>(ctx.mysql.main, 'UPDATE IMUser SET push_shield_status = ? WHERE id = ?', [
      status,
      req.userId,
    ]);
    return shieldAnswer(Cid.CID_LOGIN_RES_PUSH_SHIELD, req, res.affectedRows > 0 ? status : null);
  },
  (req) => shieldAnswer(Cid.CID_LOGIN_RES_PUSH_SHIELD, req, null),
);

/** CID_LOGIN_REQ_QUERY_PUSH_SHIELD: result 0 with the stored status, 1 for an unknown user. */
const queryPushShield = perRequest<QueryShieldReq>(
  Cid.CID_LOGIN_REQ_QUERY_PUSH_SHIELD,
  async (ctx, req) => {
    const rows = await ctx.mysql.query<{ s: number }[]>(ctx.mysql.main, 'SELECT push_shield_status AS s FROM IMUser WHERE id = ?', [req.userId]);
    return shieldAnswer(Cid.CID_LOGIN_RES_QUERY_PUSH_SHIELD, req, rows[0]?.s ?? null);
  },
  (req) => shieldAnswer(Cid.CID_LOGIN_RES_QUERY_PUSH_SHIELD, req, null),
);

function shieldAnswer(commandId: number, req: { userId?: number }, status: number | null) {
  const userId = req.userId ?? 0;
  return { commandId, message: status === null ? { userId, resultCode: 1 } : { userId, resultCode: 0, shieldStatus: status } };
}

/**
 * CID_LOGIN_REQ_DEVICETOKEN: stores the token (answer: the user id; the
 * protocol has no result). The user's previous token stops pointing at the
 * user, and when the token belonged to another account (one phone, a new
 * login), that account no longer pushes to this device. An empty token
 * (what a logout sends, as TeamTalk's msg_server does) clears the user's
 * token: a logged-out phone gets no pushes. Oversized or all-digit tokens
 * are not stored: an all-digit token would overwrite `device_{userId}` of
 * the user with that id.
 */
const setDeviceToken = perRequest<TokenReq>(
  Cid.CID_LOGIN_REQ_DEVICETOKEN,
  async (ctx, req) => {
    const userId = req.userId!;
    const token = req.deviceToken ?? '';
    if (token === '') {
      await clearDeviceToken(ctx, userId);
      return tokenAnswer(req);
    }
    if (token.length > MAX_TOKEN_CHARS || /^\d+$/.test(token)) {
      ctx.log.info({ userId }, 'device token refused');
      return tokenAnswer(req);
    }
    const prefix = req.clientType === CLIENT_IOS ? 'ios:' : req.clientType === CLIENT_ANDROID ? 'android:' : '';
    const [mine, owner] = await Promise.all([ctx.tokens.get(userKey(userId)), ctx.tokens.get(tokenKey(token))]);
    const oldToken = mine ? tokenOf(mine) : null;
    if (oldToken && oldToken !== token && (await ctx.tokens.get(tokenKey(oldToken))) === String(userId)) await ctx.tokens.del(tokenKey(oldToken));
    if (owner && owner !== String(userId) && /^\d+$/.test(owner)) {
      const theirs = await ctx.tokens.get(userKey(owner));
      if (theirs !== null && tokenOf(theirs) === token) await ctx.tokens.del(userKey(owner));
    }
    await Promise.all([ctx.tokens.set(userKey(userId), prefix + token), ctx.tokens.set(tokenKey(token), String(userId))]);
    return tokenAnswer(req);
  },
  (req) => tokenAnswer(req),
);

/** Forgets the user's token, and the token's way back to the user when it still names this user. */
async function clearDeviceToken(ctx: HandlerContext, userId: number): Promise<void> {
  const mine = await ctx.tokens.get(userKey(userId));
  if (mine === null) return;
  const token = tokenOf(mine);
  if (token !== '' && (await ctx.tokens.get(tokenKey(token))) === String(userId)) await ctx.tokens.del(tokenKey(token));
  await ctx.tokens.del(userKey(userId));
}

function tokenAnswer(req: TokenReq) {
  return { commandId: Cid.CID_LOGIN_RES_DEVICETOKEN, message: { userId: req.userId ?? 0 } };
}

/** The token part of a `device_{userId}` value ("ios:abc" → "abc", "abc" → "abc"). */
function tokenOf(value: string): string {
  const i = value.indexOf(':');
  return i < 0 ? value : value.slice(i + 1);
}

/**
 * CID_OTHER_GET_DEVICE_TOKEN_REQ: the iOS and Android tokens of the users
 * (others have nothing to push to), each with the user's total unread count
 * as badge and push_type 1. Between 22:00 and 07:59 (server time) iOS users
 * who shielded pushes are left out, as TeamTalk does.
 */
const getDeviceTokens = perRequest<GetTokensReq>(
  Cid.CID_OTHER_GET_DEVICE_TOKEN_REQ,
  async (ctx, req) => {
    const ids = [...new Set(req.userId ?? [])].slice(0, MAX_TOKEN_USERS);
    const values = await Promise.all(ids.map((id) => ctx.tokens.get(userKey(id))));
    let found: IM.BaseDefine.IUserTokenInfo[] = [];
    ids.forEach((userId, i) => {
      const v = values[i];
      const sep = v ? v.indexOf(':') : -1;
      if (!v || sep < 0) return;
      const kind = v.slice(0, sep);
      const userType = kind === 'ios' ? CLIENT_IOS : kind === 'android' ? CLIENT_ANDROID : 0;
      if (userType) found.push({ userId, userType, token: v.slice(sep + 1), pushCount: 0, pushType: 1 });
    });
    const hour = new Date(ctx.now() * 1000).getHours();
    const ios = found.filter((t) => t.userType === CLIENT_IOS).map((t) => t.userId);
    if ((hour >= 22 || hour <= 7) && ios.length > 0) {
      const rows = await ctx.mysql.query<{ id: number }[]>(ctx.mysql.main, 'SELECT id FROM IMUser WHERE id IN (?) AND push_shield_status = 1', [ios]);
      const shielded = new Set(rows.map((r) => r.id));
      found = found.filter((t) => !(t.userType === CLIENT_IOS && shielded.has(t.userId)));
    }
    const unread = await totalUnread(ctx, found.map((t) => t.userId));
    for (const t of found) t.pushCount = unread.get(t.userId) ?? 0;
    return { commandId: Cid.CID_OTHER_GET_DEVICE_TOKEN_RSP, message: { userTokenInfo: found } };
  },
  () => ({ commandId: Cid.CID_OTHER_GET_DEVICE_TOKEN_RSP, message: { userTokenInfo: [] } }),
);

/**
 * Unread messages per user: the fields of `unread_{userId}`, plus for each
 * group the user is in, `{groupId}_im_group_msg` count minus
 * `{userId}_{groupId}_im_user_group` count (never below 0).
 */
async function totalUnread(ctx: HandlerContext, userIds: number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (userIds.length === 0) return out;
  const [singles, members] = await Promise.all([
    Promise.all(userIds.map((u) => ctx.redis.hvals(`unread_${u}`))),
    ctx.mysql.query<{ userId: number; groupId: number }[]>(
      ctx.mysql.main,
      'SELECT userId, groupId FROM IMGroupMember WHERE userId IN (?) AND status = 0',
      [userIds],
    ),
  ]);
  userIds.forEach((u, i) => out.set(u, singles[i]!.reduce((s, v) => s + (Number(v) || 0), 0)));
  const counts = await Promise.all(
    members.map((m) => Promise.all([ctx.redis.hget(`${m.groupId}_im_group_msg`, 'count'), ctx.redis.hget(`${m.userId}_${m.groupId}_im_user_group`, 'count')])),
  );
  members.forEach((m, i) => {
    const [total, read] = counts[i]!;
    if (total === null) return;
    out.set(m.userId, out.get(m.userId)! + Math.max(0, Number(total) - (Number(read) || 0)));
  });
  return out;
}

export const pushHandlers: Handler<never>[] = [pushShield, queryPushShield, setDeviceToken, getDeviceTokens] as Handler<never>[];
