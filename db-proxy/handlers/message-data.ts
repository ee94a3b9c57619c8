import { Cid } from '../../proto/commands.ts';
import { isGroupMsgType, MsgType } from '../../proto/conversation.ts';
import type { IM } from '../../proto/messages.ts';
import { allocateMsgIds, type IdRequest } from './msg-ids.ts';
import { relationIds, pairKey } from './relations.ts';
import { countRows, touchSessions, uncountRows } from './message-effects.ts';
import { insertRows, type Row } from './message-insert.ts';
import { audioProblem, isAudio, storeAudio } from './message-audio.ts';
import type { Handler, HandlerContext, Reply } from './types.ts';

type MsgData = IM.Message.IIMMsgData;


function answer(req: MsgData, msgId: number): Reply {
  // TeamTalk's answer is the message itself with msg_id set; 0 means "not stored".
  const message: MsgData = {
    fromUserId: req.fromUserId ?? 0,
    toSessionId: req.toSessionId ?? 0,
    msgId,
    createTime: req.createTime ?? 0,
    msgType: req.msgType ?? MsgType.SINGLE_TEXT,
    msgData: req.msgData ?? new Uint8Array(0),
  };
  if (req.attachData) message.attachData = req.attachData;
  return { commandId: Cid.CID_MSG_DATA, message };
}

/**
 * CID_MSG_DATA, group commit: one batch of messages (any conversations, in
 * arrival order) becomes one relation lookup, one id allocation round, and
 * then, side by side, one multi-row INSERT per shard table, one session
 * upsert and one Redis pipeline for the counters. A message is answered with
 * its msg id only
 * after its row is committed; anything else is answered with msg_id 0.
 */
export const msgData: Handler<MsgData> = {
  commandId: Cid.CID_MSG_DATA,
  fail: (req) => answer(req, 0),
  async run(ctx, reqs) {
    const ok = reqs.map((r) => valid(r));
    const singles = reqs.filter((r, i) => ok[i] && !isGroupMsgType(r.msgType!));
    const relations = await relationIds(ctx, singles.map((r) => [r.fromUserId!, r.toSessionId!] as [number, number]));
    const members = await groupMembership(ctx, reqs.filter((r, i) => ok[i] && isGroupMsgType(r.msgType!)));

    // One conversation per key; messages keep their arrival order inside it.
    const convs = new Map<string, { id: IdRequest; idx: number[] }>();
    reqs.forEach((r, i) => {
      if (!ok[i]) return;
      const group = isGroupMsgType(r.msgType!);
      if (group && !members.has(`${r.toSessionId}:${r.fromUserId}`)) {
        ok[i] = false;
        return;
      }
      const id = group ? r.toSessionId! : relations.get(pairKey(r.fromUserId!, r.toSessionId!))!;
      const key = `${group ? 'g' : 's'}${id}`;
      let c = convs.get(key);
      if (!c) convs.set(key, (c = { id: { kind: group ? 'group' : 'single', id, count: 0 }, idx: [] }));
      c.id.count++;
      c.idx.push(i);
    });
    const list = [...convs.values()];
    const last = await allocateMsgIds(ctx, list.map((c) => c.id));
    const now = ctx.now();
    const rows: Row[] = [];
    list.forEach((c, k) => {
      const firstId = last[k]! - c.id.count + 1;
      c.idx.forEach((i, j) => rows.push(toRow(reqs[i]!, i, c.id.id, firstId + j, now)));
    });
    await storeAudio(ctx, rows); // voice: bytes to IMAudio, content = its id; rows it cannot store leave `rows`
    // Sessions and counters run beside the inserts: the answer waits for one
    // commit and no extra round trip. Counts of rows that failed are taken back.
    const [stored] = await Promise.all([insertRows(ctx, rows), touchSessions(ctx, rows, now), countRows(ctx, rows)]);
    const storedRows = rows.filter((r) => stored.has(r.index));
    if (storedRows.length < rows.length) await uncountRows(ctx, rows.filter((r) => !stored.has(r.index)));
    const msgIds = new Map(storedRows.map((r) => [r.index, r.msgId]));
    return reqs.map((r, i) => answer(r, msgIds.get(i) ?? 0));
  },
};

function valid(r: MsgData): boolean {
  const t = r.msgType!;
  if (!(t === MsgType.SINGLE_TEXT || t === MsgType.SINGLE_AUDIO || isGroupMsgType(t))) return false;
  if (!r.msgData || r.msgData.length === 0 || !r.fromUserId || !r.toSessionId) return false;
  // Refused before ids are handed out, so a malformed voice message leaves no gap.
  if (isAudio(t) && audioProblem(r.msgData) !== null) return false;
  return isGroupMsgType(t) || r.fromUserId !== r.toSessionId;
}

function toRow(r: MsgData, index: number, convId: number, msgId: number, now: number): Row {
  return {
    index,
    group: isGroupMsgType(r.msgType!),
    convId,
    fromId: r.fromUserId!,
    toId: r.toSessionId!,
    msgId,
    type: r.msgType!,
    content: Buffer.from(r.msgData!),
    created: r.createTime || now,
  };
}

/** `${groupId}:${userId}` for every sender that is a member of a live group. */
async function groupMembership(ctx: HandlerContext, reqs: MsgData[]): Promise<Set<string>> {
  if (reqs.length === 0) return new Set();
  const pairs = [...new Map(reqs.map((r) => [`${r.toSessionId}:${r.fromUserId}`, [r.toSessionId!, r.fromUserId!]])).values()];
  const rows = await ctx.mysql.query<{ groupId: number; userId: number }[]>(
    ctx.mysql.main,
    `SELECT m.groupId, m.userId FROM IMGroupMember m JOIN IMGroup g ON g.id = m.groupId
      WHERE g.status = 0 AND m.status = 0 AND (m.groupId, m.userId) IN (${pairs.map(() => '(?, ?)').join(', ')})`,
    pairs.flat(),
  );
  return new Set(rows.map((r) => `${r.groupId}:${r.userId}`));
}
