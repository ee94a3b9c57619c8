import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { recentSessions, removeSession } from './buddy-sessions.ts';
import { perRequest, type Handler, type HandlerContext } from './types.ts';

type UsersInfoReq = IM.Buddy.IIMUsersInfoReq;
type AllUserReq = IM.Buddy.IIMAllUserReq;
type DepartmentReq = IM.Buddy.IIMDepartmentReq;
type SignInfoReq = IM.Buddy.IIMChangeSignInfoReq;

/** The IMUser columns a UserInfo is made of. */
export const USER_COLUMNS = 'id, sex, name, domain, nick, phone, email, avatar, departId, status, sign_info';

export interface UserRow {
  id: number;
  sex: number;
  name: string;
  domain: string;
  nick: string;
  phone: string;
  email: string;
  avatar: string | null;
  departId: number;
  status: number | null;
  sign_info: string;
}

/** UserInfo of a row; user_real_name is the login name, as in TeamTalk. */
export function toUserInfo(r: UserRow): IM.BaseDefine.IUserInfo {
  return {
    userId: r.id,
    userGender: r.sex,
    userNickName: r.nick,
    avatarUrl: r.avatar ?? '',
    departmentId: r.departId,
    email: r.email,
    userRealName: r.name,
    userTel: r.phone,
    userDomain: r.domain,
    status: r.status ?? 0,
    signInfo: r.sign_info,
  };
}

/** Ids asked for in one request, beyond which the rest are ignored. */
const MAX_IDS_PER_REQUEST = 5000;
/** TeamTalk's limit on a signature (the column holds 128 characters). */
const MAX_SIGN_INFO = 128;
/** TeamTalk's "has left the company" status: such users are left out of a first full sync. */
const USER_STATUS_LEFT = 3;

/**
 * CID_BUDDY_LIST_USER_INFO_REQUEST: the users of every request in the batch
 * come from one `id IN (...)` query; each answer lists the known ones among
 * its ids, in the order asked, unknown ids left out.
 */
export const userInfo: Handler<UsersInfoReq> = {
  commandId: Cid.CID_BUDDY_LIST_USER_INFO_REQUEST,
  fail: (req) => ({ commandId: Cid.CID_BUDDY_LIST_USER_INFO_RESPONSE, message: { userId: req.userId ?? 0, userInfoList: [] } }),
  async run(ctx, reqs) {
    const lists = reqs.map((r) => [...new Set(r.userIdList ?? [])].slice(0, MAX_IDS_PER_REQUEST));
    const ids = [...new Set(lists.flat())];
    const rows = ids.length === 0 ? [] : await ctx.mysql.query<UserRow[]>(ctx.mysql.mainRead, `SELECT ${USER_COLUMNS} FROM IMUser WHERE id IN (?)`, [ids]);
    const byId = new Map(rows.map((r) => [r.id, toUserInfo(r)]));
    return reqs.map((r, i) => ({
      commandId: Cid.CID_BUDDY_LIST_USER_INFO_RESPONSE,
      message: { userId: r.userId, userInfoList: lists[i]!.flatMap((id) => byId.get(id) ?? []) },
    }));
  },
};

/**
 * CID_BUDDY_LIST_ALL_USER_REQUEST: users changed since latest_update_time.
 * 0 means a first sync: every user who has not left. Otherwise every user
 * with updated >= the time (departed ones too, so clients can hide them).
 * The answer's latest_update_time is the newest `updated` returned (or the
 * request's, when nothing changed).
 */
export const allUsers = perRequest<AllUserReq>(
  Cid.CID_BUDDY_LIST_ALL_USER_REQUEST,
  async (ctx, req) => {
    const since = req.latestUpdateTime ?? 0;
    const rows =
      since === 0
        ? await ctx.mysql.query<(UserRow & { updated: number })[]>(
            ctx.mysql.mainRead,
            `SELECT ${USER_COLUMNS}, updated FROM IMUser WHERE status IS NULL OR status <> ? ORDER BY id`,
            [USER_STATUS_LEFT],
          )
        : await ctx.mysql.query<(UserRow & { updated: number })[]>(
            ctx.mysql.mainRead,
            `SELECT ${USER_COLUMNS}, updated FROM IMUser WHERE updated >= ? ORDER BY id`,
            [since],
          );
    const latest = rows.reduce((m, r) => Math.max(m, r.updated), since);
    return {
      commandId: Cid.CID_BUDDY_LIST_ALL_USER_RESPONSE,
      message: { userId: req.userId, latestUpdateTime: latest, userList: rows.map(toUserInfo) },
    };
  },
  (req) => ({
    commandId: Cid.CID_BUDDY_LIST_ALL_USER_RESPONSE,
    message: { userId: req.userId ?? 0, latestUpdateTime: req.latestUpdateTime ?? 0, userList: [] },
  }),
);

interface DepartRow {
  id: number;
  departName: string;
  priority: number;
  parentId: number;
  status: number;
  updated: number;
}

/**
 * CID_BUDDY_LIST_DEPARTMENT_REQUEST: departments with updated > the time.
 * Rows with a status outside the protocol's (0 ok, 1 deleted) are left out
 * but still move latest_update_time forward, as in TeamTalk.
 */
export const departments = perRequest<DepartmentReq>(
  Cid.CID_BUDDY_LIST_DEPARTMENT_REQUEST,
  async (ctx, req) => {
    const since = req.latestUpdateTime ?? 0;
    const rows = await ctx.mysql.query<DepartRow[]>(
      ctx.mysql.mainRead,
      'SELECT id, departName, priority, parentId, status, updated FROM IMDepart WHERE updated > ? ORDER BY id',
      [since],
    );
    const deptList = rows
      .filter((r) => r.status === 0 || r.status === 1)
      .map((r) => ({ deptId: r.id, priority: r.priority, deptName: r.departName, parentDeptId: r.parentId, deptStatus: r.status }));
    return {
      commandId: Cid.CID_BUDDY_LIST_DEPARTMENT_RESPONSE,
      message: { userId: req.userId, latestUpdateTime: rows.reduce((m, r) => Math.max(m, r.updated), since), deptList },
    };
  },
  (req) => ({
    commandId: Cid.CID_BUDDY_LIST_DEPARTMENT_RESPONSE,
    message: { userId: req.userId ?? 0, latestUpdateTime: req.latestUpdateTime ?? 0, deptList: [] },
  }),
);

/**
 * CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST: result 0 with the stored
 * signature, 1 when it is too long or the user does not exist. `updated`
 * moves so other clients pick the change up in their next user sync.
 */
export const changeSignInfo = perRequest<SignInfoReq>(
  Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST,
  async (ctx, req) => {
    const sign = req.signInfo ?? '';
    const ok = [...sign].length <= MAX_SIGN_INFO && (await updateSignInfo(ctx, req.userId!, sign));
    return {
      commandId: Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE,
      message: ok ? { userId: req.userId, resultCode: 0, signInfo: sign } : { userId: req.userId, resultCode: 1 },
    };
  },
  (req) => ({ commandId: Cid.CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE, message: { userId: req.userId ?? 0, resultCode: 1 } }),
);

async function updateSignInfo(ctx: HandlerContext, userId: number, sign: string): Promise<boolean> {
  const res = await ctx.mysql.query<{ affectedRows: number }>(ctx.mysql.main, 'UPDATE IMUser SET sign_info = ?, updated = ? WHERE id = ?', [
    sign,
    ctx.now(),
    userId,
  ]);
  return res.affectedRows > 0;
}

/**
 * The buddy-list commands of TeamTalk's db proxy: the user and department
 * directory here, recent sessions in buddy-sessions.ts.
 */
export const handlers: Handler<never>[] = [
  recentSessions,
  removeSession,
  userInfo,
  allUsers,
  departments,
  changeSignInfo,
] as Handler<never>[];
