/**
 * An answer whose outcome is unknown: db-proxy could not learn in time
 * whether a request that changes state (a CID_MSG_DATA) took effect, so it
 * answers msg_id 0 with this bit of the PDU header's `flag` set instead of
 * saying "not stored". Our access server treats such an answer as unknown
 * (it finds out, or closes the client's connection rather than lie); a
 * TeamTalk msg_server ignores the flag field.
 */
export const ANSWER_FLAG_OUTCOME_UNKNOWN = 0x4000;

export function isOutcomeUnknown(header: { flag: number }): boolean {
  return (header.flag & ANSWER_FLAG_OUTCOME_UNKNOWN) !== 0;
}
