import { ANSWER_FLAG_OUTCOME_UNKNOWN } from '../../common/outcome.ts';
import { Cid } from '../../proto/commands.ts';
import { isGroupMsgType, MsgType } from '../../proto/conversation.ts';
import type { IM } from '../../proto/messages.ts';
import { allocateMsgIds, type IdRequest } from './msg-ids.ts';
import { relationIds, pairKey } from './relations.ts';
import { countRows, touchSessions, uncountRows } from './message-effects.ts';
import type { Row } from './message-insert.ts';
import { insertRows } from './message-store.ts';
import { resolveLater } from './message-unresolved.ts';
import { audioProblem, isAudio, storeAudio } from './message-audio.ts';
import { textProblem } from './message-text.ts';
import { outcomeCountersOf } from '../outcome-stats.ts';
import type { Handler, HandlerContext, Reply } from './types.ts';

type MsgData = IM.Message.IIMMsgData;

function answer(req: MsgData, msgId: number, flag = 0): Reply {
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
  return { commandId: Cid.CID_MSG_DATA, message, flag };
}

/**
 * CID_MSG_DATA, group commit: one batch of messages (any conversations, in
 * arrival order) becomes one relation lookup, one id allocation round, and
 * then, side by side, one multi-row INSERT per shard table, one session
 * upsert and one Redis pipeline for the counters. A message is answered with
 * its msg id only after its row is committed, with msg_id 0 when it is known
 * not to be stored, and with msg_id 0 flagged ANSWER_FLAG_OUTCOME_UNKNOWN
 * when that could not be learnt in time (it is then resolved in the
 * background). `run` throws only before any row is sent.
 */
export const msgData: Handler<MsgData> = {
  commandId: Cid.CID_MSG_DATA,
  fail: (req) => answer(req, 0),
  unknown: (req) => answer(req, 0, ANSWER_FLAG_OUTCOME_UNKNOWN),
  async run(ctx, reqs) {
    const stats = outcomeCountersOf(ctx.mysql);
    const ok = reqs.map((r) => valid(r));
    const badText = reqs.filter((r, i) => !ok[i] && isText(r) && r.msgData && r.msgData.length > 0 && textProblem(r.msgData) !== null).length;
    stats.add('refusedText', badText);
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
    const { last, rebuilding } = await allocateMsgIds(ctx, list.map((c) => c.id));
    const now = ctx.now();
    const rows: Row[] = [];
    list.forEach((c, k) => {
      const firstId = last[k]! - c.id.count + 1;
      c.idx.forEach((i, j) => rows.push(toRow(reqs[i]!, i, c.id.id, firstId + j, now)));
    });
    await storeAudio(ctx, rows); // voice: bytes to IMAudio, content = its id; rows it cannot store leave `rows`
    // Sessions and counters run beside the inserts: the answer waits for one
    // commit and no extra round trip. Counts of rows that failed are taken back.
    const [outcomes] = await Promise.all([insertRows(ctx, rows), touchSessions(ctx, rows, now), countRows(ctx, rows, rebuilding)]);
    // Counts are taken back only for rows known not to be stored; unknown ones keep theirs until resolved.
    const refused = rows.filter((r) => outcomes.get(r.index) === 'refused');
    if (refused.length > 0) await uncountRows(ctx, refused, rebuilding);
    const unknown = rows.filter((r) => outcomes.get(r.index) === 'unknown');
    if (unknown.length > 0) {
      stats.add('unknownAnswered', unknown.length);
      resolveLater(ctx, unknown);
    }
    const byIndex = new Map(rows.map((r) => [r.index, r]));
    return reqs.map((r, i) => {
      const o = outcomes.get(i);
      if (o === 'stored') return answer(r, byIndex.get(i)!.msgId);
      return o === 'unknown' ? answer(r, 0, ANSWER_FLAG_OUTCOME_UNKNOWN) : answer(r, 0);
    });
  },
};

const isText = (r: MsgData): boolean => r.msgType === MsgType.SINGLE_TEXT || r.msgType === MsgType.GROUP_TEXT;

function valid(r: MsgData): boolean {
  const t = r.msgType!;
  if (!(t === MsgType.SINGLE_TEXT || t === MsgType.SINGLE_AUDIO || isGroupMsgType(t))) return false;
  if (!r.msgData || r.msgData.length === 0 || !r.fromUserId || !r.toSessionId) return false;
  // Refused before ids are handed out, so a malformed voice message leaves no gap.
  if (isAudio(t) && audioProblem(r.msgData) !== null) return false;
  // So is a text the content column would reject (too long, not UTF-8).
  if (!isAudio(t) && textProblem(r.msgData) !== null) return false;
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
