import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { createGroup, changeMember } from './group-change.ts';
import { ResultCode, distinctIds, groupKeys, memberJoinTime } from './group-members.ts';
import { groupInfo, normalGroupList } from './group-query.ts';
import { perRequest, type Handler, type Reply } from './types.ts';

type ShieldReq = IM.Group.IIMGroupShieldReq;
type GetShieldReq = IM.Server.IIMGroupGetShieldReq;

function shieldAnswer(req: ShieldReq, resultCode: number): Reply {
  return {
    commandId: Cid.CID_GROUP_SHIELD_GROUP_RESPONSE,
    message: { userId: req.userId ?? 0, groupId: req.groupId ?? 0, resultCode },
  };
}

/**
 * CID_GROUP_SHIELD_GROUP_REQUEST: a member turns push notifications of a
 * group off (1) or on (0). Stored where TeamTalk keeps it: hash
 * `group_set_{groupId}` field `{userId}_1`. result_code 1 for a non-member
 * or a group that is not live.
 */
export const shieldGroup = perRequest<ShieldReq>(
  Cid.CID_GROUP_SHIELD_GROUP_REQUEST,
  async (ctx, req) => {
    if (!req.userId || !req.groupId) return shieldAnswer(req, ResultCode.FAILED);
    if ((await memberJoinTime(ctx, req.groupId, req.userId)) === null) return shieldAnswer(req, ResultCode.FAILED);
    await ctx.groups.hset(groupKeys.settings(req.groupId), groupKeys.pushField(req.userId), String(req.shieldStatus ?? 0));
    return shieldAnswer(req, ResultCode.OK);
  },
  (req) => shieldAnswer(req, ResultCode.FAILED),
);

function getShieldAnswer(groupId: number, shieldStatusList: IM.BaseDefine.IShieldStatus[]): Reply {
  return { commandId: Cid.CID_OTHER_GET_SHIELD_RSP, message: { groupId, shieldStatusList } };
}

/**
 * CID_OTHER_GET_SHIELD_REQ (server to server, before pushing a group
 * message): the push shield of each listed user in the group, 0 where
 * never set. On failure: an empty list.
 */
export const getShield = perRequest<GetShieldReq>(
  Cid.CID_OTHER_GET_SHIELD_REQ,
  async (ctx, req) => {
    const groupId = req.groupId ?? 0;
    const users = distinctIds(req.userId);
    if (!groupId || users.length === 0) return getShieldAnswer(groupId, []);
    const values = await ctx.groups.hmget(groupKeys.settings(groupId), ...users.map(groupKeys.pushField));
    return getShieldAnswer(
      groupId,
      users.map((userId, i) => ({ userId, groupId, shieldStatus: Number(values[i] ?? 0) || 0 })),
    );
  },
  (req) => getShieldAnswer(req.groupId ?? 0, []),
);

/** Groups: lists, information, creation, membership, push shield. */
export const handlers: Handler<never>[] = [normalGroupList, groupInfo, createGroup, changeMember, shieldGroup, getShield].map(
  (h) => h as unknown as Handler<never>,
);
