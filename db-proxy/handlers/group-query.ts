import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { GROUP_LIVE, GroupType, MEMBER_ACTIVE, groupKeys, membersOf, placeholders } from './group-members.ts';
import { perRequest, type Reply } from './types.ts';

type ListReq = IM.Group.IIMNormalGroupListReq;
type InfoReq = IM.Group.IIMGroupInfoListReq;

function listAnswer(userId: number, groupVersionList: IM.BaseDefine.IGroupVersionInfo[]): Reply {
  return { commandId: Cid.CID_GROUP_NORMAL_LIST_RESPONSE, message: { userId, groupVersionList } };
}

/** CID_GROUP_NORMAL_LIST_REQUEST: the live normal groups the user is a member of, with versions, recently updated first. */
export const normalGroupList = perRequest<ListReq>(
  Cid.CID_GROUP_NORMAL_LIST_REQUEST,
  async (ctx, req) => {
    if (!req.userId) return listAnswer(0, []);
    const rows = await ctx.mysql.query<{ id: number; version: number }[]>(
      ctx.mysql.main,
      `SELECT DISTINCT g.id, g.version, g.updated FROM IMGroupMember m STRAIGHT_JOIN IMGroup g ON g.id = m.groupId
        WHERE m.userId = ? AND m.status = ? AND g.status = ? AND g.type = ? ORDER BY g.updated DESC, g.id DESC`,
      [req.userId, MEMBER_ACTIVE, GROUP_LIVE, GroupType.NORMAL],
    );
    return listAnswer(req.userId, rows.map((r) => ({ groupId: r.id, version: r.version })));
  },
  (req) => listAnswer(req.userId ?? 0, []),
);

function infoAnswer(userId: number, groupInfoList: IM.BaseDefine.IGroupInfo[]): Reply {
  return { commandId: Cid.CID_GROUP_INFO_RESPONSE, message: { userId, groupInfoList } };
}

/** Most groups one info request may ask about. */
const MAX_GROUPS_PER_INFO = 500;

interface GroupRow {
  id: number;
  name: string;
  avatar: string;
  creator: number;
  type: number;
  version: number;
}

/**
 * CID_GROUP_INFO_REQUEST: full information on each live group whose version
 * is newer than the one the client holds (TeamTalk's rule), with its
 * members and the asking user's push shield for it, recently updated first.
 * Only groups the asking user is a member of: any other group is left out
 * of the list, as TeamTalk leaves out an id that names no group, so ids
 * cannot be probed. User 0 is nobody and gets an empty list.
 */
export const groupInfo = perRequest<InfoReq>(
  Cid.CID_GROUP_INFO_REQUEST,
  async (ctx, req) => {
    const known = new Map<number, number>();
    for (const v of req.groupVersionList ?? []) {
      if (v.groupId > 0 && known.size < MAX_GROUPS_PER_INFO) known.set(v.groupId, v.version ?? 0);
    }
    if (known.size === 0 || !req.userId) return infoAnswer(req.userId ?? 0, []);
    const rows = await ctx.mysql.query<GroupRow[]>(
      ctx.mysql.main,
      `SELECT g.id, g.name, g.avatar, g.creator, g.type, g.version FROM IMGroup g
        WHERE g.id IN (${placeholders(known.size)}) AND g.status = ?
          AND EXISTS (SELECT 1 FROM IMGroupMember m WHERE m.groupId = g.id AND m.userId = ? AND m.status = ?)
        ORDER BY g.updated DESC, g.id DESC`,
      [...known.keys(), GROUP_LIVE, req.userId, MEMBER_ACTIVE],
    );
    const stale = rows.filter((g) => g.version > known.get(g.id)! && (g.type === GroupType.NORMAL || g.type === GroupType.TMP));
    if (stale.length === 0) return infoAnswer(req.userId, []);
    const ids = stale.map((g) => g.id);
    const pipe = ctx.groups.pipeline();
    for (const id of ids) pipe.hget(groupKeys.settings(id), groupKeys.pushField(req.userId));
    const [members, shields] = await Promise.all([membersOf(ctx, ids), pipe.exec()]);
    return infoAnswer(
      req.userId,
      stale.map((g, i) => ({
        groupId: g.id,
        version: g.version,
        groupName: g.name,
        groupAvatar: g.avatar,
        groupCreatorId: g.creator,
        groupType: g.type,
        shieldStatus: Number(shields?.[i]?.[1] ?? 0) || 0,
        groupMemberList: members.get(g.id) ?? [],
      })),
    );
  },
  (req) => infoAnswer(req.userId ?? 0, []),
);
