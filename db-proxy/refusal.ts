import { ErrorCode, ImError } from '../common/errors.ts';
import { decodeBody, encodeBody } from '../proto/commands.ts';
import { encodePdu } from '../proto/header.ts';

import type { BatchRequest } from './batch.ts';
import type { Handler, Registry, Reply } from './handlers/types.ts';

/** Encodes an answer to `request` (decoded) as a whole PDU: same seq number, same attach_data. */
export function encodeReply(seqNum: number, request: Record<string, unknown>, reply: Reply): Uint8Array {
  const message = reply.message as Record<string, unknown>;
  if (Object.hasOwn(request, 'attachData') && message.attachData === undefined) message.attachData = request.attachData;
  return encodePdu({ commandId: reply.commandId, seqNum, flag: reply.flag ?? 0 }, encodeBody(reply.commandId, message));
}

/** The handler's explicit refusal of `message`, or null when the protocol has no answer or building one fails. */
export function failReply(handler: Handler<never>, message: object, err: unknown): Reply | null {
  try {
    return handler.fail(message as never, err);
  } catch {
    return null;
  }
}

export type RefusalReason = 'overloaded' | 'expired' | 'internal' | 'unknown';

const CODE_OF = { overloaded: ErrorCode.QUEUE_FULL, expired: ErrorCode.TIMEOUT, internal: ErrorCode.STORAGE, unknown: ErrorCode.TIMEOUT } as const;

function unknownReply(handler: Handler<never>, message: object): Reply | null {
  try {
    return handler.unknown!(message as never);
  } catch {
    return null;
  }
}

/**
 * The answer, built on the event loop, to a request no handler answered:
 * refused before it ran (`overloaded`, `expired` in the queue), or whose
 * outcome is `unknown` (its batch is still running past the deadline, or
 * the worker died under it: the handler's `unknown` answer where it has
 * one), or `internal`. Null when the command has no answer.
 */
export function refusal(registry: Registry, req: BatchRequest, reason: RefusalReason): Uint8Array | null {
  const handler = registry.get(req.commandId);
  if (!handler) return null;
  let request: Record<string, unknown> = {};
  try {
    request = decodeBody(req.commandId, req.body) as unknown as Record<string, unknown>;
  } catch {
    // answer without the request's fields
  }
  const err = new ImError(CODE_OF[reason], `request refused: ${reason}`);
  const reply = reason === 'unknown' && handler.unknown ? unknownReply(handler, request) : failReply(handler, request, err);
  return reply ? encodeReply(req.seqNum, request, reply) : null;
}
