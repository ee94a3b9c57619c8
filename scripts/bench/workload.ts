/**
 * Request templates for the load generator: every PDU it can send is encoded
 * once up front (header with seq 0); sending one is a copy and a seq patch.
 * Answers are read with the generated decoders, without the verify pass.
 */
import { createHash } from 'node:crypto';
import { Cid, encodeBody } from '../../proto/commands.ts';
import { encodePdu } from '../../proto/header.ts';
import { IM } from '../../proto/messages.ts';
import { groupMember, pairFrom, pairTo, userCount, userName, userPassword, type Op, type Population } from './types.ts';

export const MSG_TEXT = 0x01;
export const MSG_GROUP_TEXT = 0x11;
const SESSION_SINGLE = 1;

export function md5hex(s: string): string {
  return createHash('md5').update(s).digest('hex');
}

/** Content of every benchmark message (64 bytes, like a short chat line). */
export const CONTENT = Buffer.from('bench: the quick brown fox jumps over the lazy dog 0123456789abc');

export interface Templates {
  /** PDUs per op, indexed by the op's target index. */
  pdus: Record<Op, Buffer[]>;
  /** Command id of a successful answer per op. */
  answer: Record<Op, number>;
}

function pdu(cid: number, body: Uint8Array): Buffer {
  return encodePdu({ commandId: cid }, body);
}

/** Encodes the templates the given ops need. */
export function buildTemplates(pop: Population, ops: readonly Op[]): Templates {
  const need = new Set(ops);
  const users = userCount(pop);
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  const msg = (from: number, to: number, type: number): Buffer =>
    pdu(Cid.CID_MSG_DATA, encodeBody(Cid.CID_MSG_DATA, { fromUserId: from, toSessionId: to, msgId: 0, createTime: 0, msgType: type, msgData: CONTENT }));
  return {
    pdus: {
      single: need.has('single') ? range(pop.pairs).map((p) => msg(pairFrom(p), pairTo(p), MSG_TEXT)) : [],
      // index g * groupSize + m: member m of group g speaks.
      group: need.has('group')
        ? range(pop.groups * pop.groupSize).map((i) =>
            msg(groupMember(pop, Math.floor(i / pop.groupSize), i % pop.groupSize), pop.groupIdBase + Math.floor(i / pop.groupSize), MSG_GROUP_TEXT),
          )
        : [],
      // the receivers, who have unread messages
      unread: need.has('unread') ? range(pop.pairs).map((p) => pdu(Cid.CID_MSG_UNREAD_CNT_REQUEST, encodeBody(Cid.CID_MSG_UNREAD_CNT_REQUEST, { userId: pairTo(p) }))) : [],
      validate: need.has('validate')
        ? range(users).map((i) =>
            pdu(Cid.CID_OTHER_VALIDATE_REQ, encodeBody(Cid.CID_OTHER_VALIDATE_REQ, { userName: userName(i + 1), password: md5hex(userPassword(i + 1)) })),
          )
        : [],
      list: need.has('list')
        ? range(pop.pairs).map((p) =>
            pdu(
              Cid.CID_MSG_LIST_REQUEST,
              encodeBody(Cid.CID_MSG_LIST_REQUEST, { userId: pairTo(p), sessionType: SESSION_SINGLE, sessionId: pairFrom(p), msgIdBegin: 0, msgCnt: 20 }),
            ),
          )
        : [],
    },
    answer: {
      single: Cid.CID_MSG_DATA,
      group: Cid.CID_MSG_DATA,
      unread: Cid.CID_MSG_UNREAD_CNT_RESPONSE,
      validate: Cid.CID_OTHER_VALIDATE_RSP,
      list: Cid.CID_MSG_LIST_RESPONSE,
    },
  };
}

/**
 * What an answer means: for messages the msg id (0 = not stored), for
 * validate 1 when result_code is 0, else 1 for any answer of the right command.
 * Returns -1 for an undecodable body.
 */
export function answerValue(op: Op, body: Uint8Array): number {
  try {
    if (op === 'single' || op === 'group') return IM.Message.IMMsgData.decode(body).msgId;
    if (op === 'validate') return IM.Server.IMValidateRsp.decode(body).resultCode === 0 ? 1 : 0;
    return 1;
  } catch {
    return -1;
  }
}

/** The weighted cycle of ops for a workload (mix: MIX shares, restricted to `available`). */
export function cycleOf(ops: Partial<Record<Op, number>>): Op[] {
  const cycle: Op[] = [];
  const entries = Object.entries(ops).filter(([, w]) => (w ?? 0) > 0) as [Op, number][];
  const left = new Map(entries);
  // interleave so that a short run still sees every kind
  while ([...left.values()].some((n) => n > 0)) {
    for (const [op, n] of left) {
      if (n > 0) {
        cycle.push(op);
        left.set(op, n - 1);
      }
    }
  }
  return cycle;
}
