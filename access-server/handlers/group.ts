/**
 * Group commands: lists, information, creation, membership changes and
 * push shields, answered by db-proxy (db-forward.ts) with the session's
 * user as the requester. Member changes are told to the members.
 */
import { Cid } from '../../proto/commands.ts';
import { forward, idList, ResultCode, SessionType, sessionKey, type Body } from './db-forward.ts';
import type { HandlerEntry } from './types.ts';

/** IM.BaseDefine.GroupType. */
export const GroupType = { NORMAL: 1, TMP: 2 } as const;

const groupKey = (groupId: unknown): string => sessionKey(SessionType.GROUP, 0, groupId);

const normalList = forward(Cid.CID_GROUP_NORMAL_LIST_REQUEST, {
  response: Cid.CID_GROUP_NORMAL_LIST_RESPONSE,
  failure: (r) => ({ userId: r.userId, groupVersionList: [] }),
});

const groupInfo = forward(Cid.CID_GROUP_INFO_REQUEST, {
  response: Cid.CID_GROUP_INFO_RESPONSE,
  failure: (r) => ({ userId: r.userId, groupInfoList: [] }),
});

/**
 * Creates a temporary group of the listed members and the requester.
 * Clients may not create normal groups (TeamTalk's rule: administrators
 * make those); such a request is refused with result_code 1 where TeamTalk
 * sent nothing back. Always answered. Nobody else is told: members learn
 * of the group with its first message, as in TeamTalk.
 */
const create = forward(Cid.CID_GROUP_CREATE_REQUEST, {
  response: Cid.CID_GROUP_CREATE_RESPONSE,
  failure: (r) => ({ userId: r.userId, resultCode: ResultCode.FAILED, groupName: r.groupName ?? '', userIdList: [] }),
  refuse: (r) => r.groupType === GroupType.NORMAL,
  after(ctx, _conn, answer) {
    // A member list cached while the id was unused must not hide the new group.
    if (answer.resultCode === ResultCode.OK && typeof answer.groupId === 'number') ctx.forgetGroup(answer.groupId);
  },
});

/**
 * Adds or removes members (db-proxy decides who may). When someone was
 * actually added or removed, the cached member list is dropped and
 * CID_GROUP_CHANGE_MEMBER_NOTIFY goes to the members after the change and
 * to the changed users (so removed ones learn it too) on every server,
 * except the requesting connection, which has the answer. TeamTalk also
 * notifies when nothing changed; we do not.
 */
const changeMember = forward(Cid.CID_GROUP_CHANGE_MEMBER_REQUEST, {
  response: Cid.CID_GROUP_CHANGE_MEMBER_RESPONSE,
  failure: (r) => ({
    userId: r.userId,
    changeType: r.changeType,
    resultCode: ResultCode.FAILED,
    groupId: r.groupId ?? 0,
    curUserIdList: [],
    chgUserIdList: [],
  }),
  orderKey: (r) => groupKey(r.groupId),
  after(ctx, conn, answer, req) {
    const changed = idList(answer.chgUserIdList);
    if (answer.resultCode !== ResultCode.OK || changed.length === 0) return;
    const groupId = Number(req.groupId);
    ctx.forgetGroup(groupId);
    const current = idList(answer.curUserIdList);
    const notify: Body = { userId: req.userId, changeType: req.changeType, groupId, curUserIdList: current, chgUserIdList: changed };
    ctx.deliver([...new Set([...current, ...changed])], Cid.CID_GROUP_CHANGE_MEMBER_NOTIFY, notify, {
      exceptConnId: conn.id,
      orderKey: groupKey(groupId),
    });
  },
});

const shield = forward(Cid.CID_GROUP_SHIELD_GROUP_REQUEST, {
  response: Cid.CID_GROUP_SHIELD_GROUP_RESPONSE,
  failure: (r) => ({ userId: r.userId, groupId: r.groupId ?? 0, resultCode: ResultCode.FAILED }),
  orderKey: (r) => groupKey(r.groupId),
});

export const handlers: ReadonlyArray<HandlerEntry> = [normalList, groupInfo, create, changeMember, shield];
