import type { PoolConnection, ResultSetHeader } from 'mysql2/promise';
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import {
  GROUP_LIVE,
  GroupType,
  MEMBER_ACTIVE,
  MEMBER_LEFT,
  ResultCode,
  distinctIds,
  placeholders,
  syncMemberCache,
} from './group-members.ts';
import { perRequest, type HandlerContext, type Reply } from './types.ts';

type CreateReq = IM.Group.IIMGroupCreateReq;
type ChangeReq = IM.Group.IIMGroupChangeMemberReq;

const ModifyType = { ADD: 1, DEL: 2 } as const;
/** Length limits of IMGroup.name and IMGroup.avatar (characters). */
const MAX_TEXT = 256;
const SESSION_GROUP = 2;

async function q<T>(conn: PoolConnection, sql: string, params: unknown[]): Promise<T> {
  const [rows] = await conn.query(sql, params);
  return rows as T;
}

function createAnswer(req: CreateReq, resultCode: number, groupId?: number, members: number[] = []): Reply {
  return {
    commandId: Cid.CID_GROUP_CREATE_RESPONSE,
    message: { userId: req.userId ?? 0, resultCode, groupId, groupName: req.groupName ?? '', userIdList: members },
  };
}

/**
 * CID_GROUP_CREATE_REQUEST: a live group of the listed members plus the
 * creator, version 1, in one transaction; then TeamTalk's member hash
 * `group_member_{groupId}` and the members' read counts. Always answered:
 * result_code 1 for an empty name or member list, text too long, no
 * creator (user 0 is nobody), or a storage failure. Whether a client may create a normal group is the
 * access server's rule (TeamTalk's msg_server lets clients create only
 * temporary ones); db-proxy creates both.
 */
export const createGroup = perRequest<CreateReq>(
  Cid.CID_GROUP_CREATE_REQUEST,
  async (ctx, req) => {
    const name = req.groupName ?? '';
    const avatar = req.groupAvatar ?? '';
    const type = req.groupType;
    const requested = distinctIds(req.memberIdList);
    if (!req.userId || !name || name.length > MAX_TEXT || avatar.length > MAX_TEXT || requested.length === 0) return createAnswer(req, ResultCode.FAILED);
    if (type !== GroupType.NORMAL && type !== GroupType.TMP) return createAnswer(req, ResultCode.FAILED);
    const members = distinctIds([req.userId, ...requested]).sort((a, b) => a - b);
    const now = ctx.now();
    const groupId = await ctx.mysql.transaction(ctx.mysql.main, async (conn) => {
      const res = await q<ResultSetHeader>(
        conn,
        `INSERT INTO IMGroup (name, avatar, creator, type, userCnt, status, version, lastChated, updated, created)
          VALUES (?, ?, ?, ?, ?, ?, 1, 0, ?, ?)`,
        [name, avatar, req.userId, type, members.length, GROUP_LIVE, now, now],
      );
      await q(
        conn,
        `INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES ${members.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
        members.flatMap((u) => [res.insertId, u, MEMBER_ACTIVE, now, now]),
      );
      return res.insertId;
    });
    await syncMemberCache(ctx, groupId, { added: members, removed: [], now, reset: true });
    return createAnswer(req, ResultCode.OK, groupId, members);
  },
  (req) => createAnswer(req, ResultCode.FAILED),
);

function changeAnswer(req: ChangeReq, resultCode: number, cur: number[] = [], chg: number[] = []): Reply {
  return {
    commandId: Cid.CID_GROUP_CHANGE_MEMBER_RESPONSE,
    message: {
      userId: req.userId ?? 0,
      changeType: req.changeType || ModifyType.ADD,
      resultCode,
      groupId: req.groupId ?? 0,
      curUserIdList: cur,
      chgUserIdList: chg,
    },
  };
}

/**
 * CID_GROUP_CHANGE_MEMBER_REQUEST. Who may (TeamTalk's rule, tightened):
 * the creator, for any change; a member of a temporary group, to add
 * people (TeamTalk lets anyone add to a temporary group, and user 0 change
 * any group; here user 0 is nobody and may change nothing). Changes run in one transaction that
 * locks the group row; userCnt becomes the member count and version goes
 * up by one when anyone was actually added or removed. Removed members lose
 * the group from their recent sessions; changed members start with nothing
 * unread. Answer: result_code 0 with the members after the change and the
 * ids actually changed, or 1 (no such live group, not allowed, empty list,
 * storage failure).
 */
export const changeMember = perRequest<ChangeReq>(
  Cid.CID_GROUP_CHANGE_MEMBER_REQUEST,
  async (ctx, req) => {
    const { userId, groupId, changeType } = req;
    const requested = distinctIds(req.memberIdList);
    if (!userId || !groupId || requested.length === 0 || (changeType !== ModifyType.ADD && changeType !== ModifyType.DEL)) {
      return changeAnswer(req, ResultCode.FAILED);
    }
    const now = ctx.now();
    const outcome = await ctx.mysql.transaction(ctx.mysql.main, async (conn) => {
      const [group] = await q<{ creator: number; type: number; status: number }[]>(
        conn,
        'SELECT creator, type, status FROM IMGroup WHERE id = ? FOR UPDATE',
        [groupId],
      );
      if (!group || group.status !== GROUP_LIVE) return null;
      const asked = distinctIds([...requested, userId]);
      const rows = await q<{ userId: number; status: number }[]>(
        conn,
        `SELECT userId, MIN(status) AS status FROM IMGroupMember WHERE groupId = ? AND userId IN (${placeholders(asked.length)}) GROUP BY userId`,
        [groupId, ...asked],
      );
      const known = new Set(rows.map((r) => r.userId));
      const active = new Set(rows.filter((r) => r.status === MEMBER_ACTIVE).map((r) => r.userId));
      const allowed = group.creator === userId || (group.type === GroupType.TMP && changeType === ModifyType.ADD && active.has(userId));
      if (!allowed) return null;

      let changed: number[];
      if (changeType === ModifyType.ADD) {
        changed = requested.filter((u) => !active.has(u));
        const back = changed.filter((u) => known.has(u));
        const fresh = changed.filter((u) => !known.has(u));
        if (back.length > 0) {
          await q(
            conn,
            `UPDATE IMGroupMember SET status = ?, updated = ? WHERE groupId = ? AND userId IN (${placeholders(back.length)})`,
            [MEMBER_ACTIVE, now, groupId, ...back],
          );
        }
        if (fresh.length > 0) {
          await q(
            conn,
            `INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES ${fresh.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
            fresh.flatMap((u) => [groupId, u, MEMBER_ACTIVE, now, now]),
          );
        }
      } else {
        changed = requested.filter((u) => active.has(u));
        if (changed.length > 0) {
          await q(
            conn,
            `UPDATE IMGroupMember SET status = ?, updated = ? WHERE groupId = ? AND status = ? AND userId IN (${placeholders(changed.length)})`,
            [MEMBER_LEFT, now, groupId, MEMBER_ACTIVE, ...changed],
          );
        }
      }
      if (changed.length > 0) {
        await q(
          conn,
          `UPDATE IMGroup SET version = version + 1, updated = ?,
             userCnt = (SELECT COUNT(DISTINCT userId) FROM IMGroupMember WHERE groupId = ? AND status = ?) WHERE id = ?`,
          [now, groupId, MEMBER_ACTIVE, groupId],
        );
      }
      const cur = await q<{ userId: number }[]>(
        conn,
        'SELECT DISTINCT userId FROM IMGroupMember WHERE groupId = ? AND status = ? ORDER BY userId',
        [groupId, MEMBER_ACTIVE],
      );
      return { changed, cur: cur.map((r) => r.userId) };
    });
    if (!outcome) return changeAnswer(req, ResultCode.FAILED);
    const { changed, cur } = outcome;
    if (changed.length > 0) {
      const removed = changeType === ModifyType.DEL ? changed : [];
      if (removed.length > 0) await hideGroupSession(ctx, groupId, removed, now);
      await syncMemberCache(ctx, groupId, { added: changeType === ModifyType.ADD ? changed : [], removed, now });
    }
    return changeAnswer(req, ResultCode.OK, cur, changed);
  },
  (req) => changeAnswer(req, ResultCode.FAILED),
);

/** Removed members' recent-session rows for the group are marked deleted (TeamTalk's removeSession). */
async function hideGroupSession(ctx: HandlerContext, groupId: number, users: number[], now: number): Promise<void> {
  try {
    await ctx.mysql.query(
      ctx.mysql.main,
      `UPDATE IMRecentSession SET status = 1, updated = ? WHERE peerId = ? AND type = ? AND userId IN (${placeholders(users.length)})`,
      [now, groupId, SESSION_GROUP, ...users],
    );
  } catch (err) {
    ctx.log.warn({ err, groupId }, 'recent sessions of removed members not updated');
  }
}
