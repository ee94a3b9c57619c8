import type { BatchReply } from './batch.ts';
import type { QueuedRequest } from './batcher.ts';
import type { Registry } from './handlers/types.ts';
import { refusal } from './refusal.ts';

/**
 * A finished batch's answers by link, and how many requests of each link it
 * settles. Requests already answered at their deadline are skipped (their
 * late answers counted); when the executor failed, every other request is
 * answered "outcome unknown" (or refused, for commands without that answer).
 */
export function sortReplies(
  registry: Registry,
  batch: QueuedRequest[],
  replies: readonly BatchReply[],
  failed: boolean,
): { perLink: Map<number, Uint8Array[]>; counts: Map<number, number>; late: number } {
  const perLink = new Map<number, Uint8Array[]>();
  const push = (r: QueuedRequest, pdu: Uint8Array): void => {
    let list = perLink.get(r.uuid);
    if (!list) perLink.set(r.uuid, (list = []));
    list.push(pdu);
  };
  let late = 0;
  for (const rep of replies) {
    const r = batch[rep.index];
    if (!r || r.answered) late++;
    else push(r, rep.pdu);
  }
  const counts = new Map<number, number>();
  for (const r of batch) {
    if (r.answered) continue;
    r.answered = true;
    counts.set(r.uuid, (counts.get(r.uuid) ?? 0) + 1);
    if (failed) {
      const pdu = refusal(registry, r, 'unknown');
      if (pdu) push(r, pdu);
    }
  }
  return { perLink, counts, late };
}

/**
 * The body as a buffer of its own when it is a small view of a large chunk,
 * so a queued request does not keep a whole socket read alive.
 */
export function ownBytes(body: Uint8Array): Uint8Array {
  return body.buffer.byteLength > 2 * body.byteLength + 1024 ? new Uint8Array(body) : body;
}
