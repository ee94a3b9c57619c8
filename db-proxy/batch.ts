/**
 * The unit of work handed from the event loop to a worker: many requests
 * packed into one transferable buffer, and the replies packed the same way.
 * Packing costs one copy per request body; in exchange a batch crosses the
 * thread boundary as two transfers instead of one structured clone per request.
 */

export interface BatchRequest {
  /** The link the request came in on. */
  uuid: number;
  commandId: number;
  seqNum: number;
  body: Uint8Array;
}

/** Packed requests: meta holds [uuid, commandId, seqNum, offset, length] per request. */
export interface BatchTask {
  meta: Uint32Array;
  data: ArrayBuffer;
  /** Date.now() by which the worker must have answered (storage waits are cut to it). */
  deadline: number;
}

/** Packed replies: meta holds [uuid, offset, length, request index] per whole PDU in data. */
export interface BatchResult {
  meta: Uint32Array;
  data: ArrayBuffer;
}

const REQ_FIELDS = 5;
const RES_FIELDS = 4;

export function packRequests(reqs: readonly BatchRequest[], deadline: number): BatchTask {
  let total = 0;
  for (const r of reqs) total += r.body.length;
  const data = new Uint8Array(total);
  const meta = new Uint32Array(reqs.length * REQ_FIELDS);
  let off = 0;
  reqs.forEach((r, i) => {
    data.set(r.body, off);
    meta.set([r.uuid, r.commandId, r.seqNum, off, r.body.length], i * REQ_FIELDS);
    off += r.body.length;
  });
  return { meta, data: data.buffer, deadline };
}

export function unpackRequests(task: BatchTask): BatchRequest[] {
  const out: BatchRequest[] = [];
  const m = task.meta;
  for (let i = 0; i < m.length; i += REQ_FIELDS) {
    out.push({ uuid: m[i]!, commandId: m[i + 1]!, seqNum: m[i + 2]!, body: new Uint8Array(task.data, m[i + 3]!, m[i + 4]!) });
  }
  return out;
}

export interface BatchReply {
  uuid: number;
  /** Position of the request it answers in its batch. */
  index: number;
  /** A whole PDU, header included. */
  pdu: Uint8Array;
}

export function packReplies(replies: readonly BatchReply[]): BatchResult {
  let total = 0;
  for (const r of replies) total += r.pdu.length;
  const data = new Uint8Array(total);
  const meta = new Uint32Array(replies.length * RES_FIELDS);
  let off = 0;
  replies.forEach((r, i) => {
    data.set(r.pdu, off);
    meta.set([r.uuid, off, r.pdu.length, r.index], i * RES_FIELDS);
    off += r.pdu.length;
  });
  return { meta, data: data.buffer };
}

export function unpackReplies(result: BatchResult): BatchReply[] {
  const out: BatchReply[] = [];
  const m = result.meta;
  for (let i = 0; i < m.length; i += RES_FIELDS) {
    out.push({ uuid: m[i]!, index: m[i + 3]!, pdu: new Uint8Array(result.data, m[i + 1]!, m[i + 2]!) });
  }
  return out;
}

