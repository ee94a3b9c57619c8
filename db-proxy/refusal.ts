import { ErrorCode, ImError } from '../common/errors.ts';
import { decodeBody, encodeBody } from '../proto/commands.ts';
import { encodePdu } from '../proto/header.ts';

import type { BatchRequest } from './batch.ts';
import type { Handler, Registry, Reply } from './handlers/types.ts';

/** Encodes an answer to `request` (decoded) as a whole PDU: same seq number, same attach_data. */
export function encodeReply(seqNum: number, request: Record<string, unknown>, reply: Reply): Uint8Array {
  const message = reply.message as Record<string, unknown>;
  if (Object.hasOwn(request, 'attachData') && message.attachData === undefined) message.attachData = request.attachData;
  return encodePdu({ commandId: reply.commandId, seqNum }, encodeBody(reply.commandId, message));
}

/** The handler's explicit refusal of `message`, or null when the protocol has no answer or building one fails. */
export function failReply(handler: Handler<never>, message: object, err: unknown): Reply | null {
  try {
    return handler.fail(message as never, err);
  } catch {
    return null;
  }
}

/**
 * The refusal PDU for a request that never reached a handler (overload,
 * crashed worker), built on the event loop; null when the command has no answer.
 */
export function refusal(registry: Registry, req: BatchRequest, reason: 'overloaded' | 'internal'): Uint8Array | null {
  const handler = registry.get(req.commandId);
  if (!handler) return null;
  let request: Record<string, unknown> = {};
  try {
    request = decodeBody(req.commandId, req.body) as unknown as Record<string, unknown>;
  } catch {
    // answer without the request's fields
  }
  const err = new ImError(reason === 'overloaded' ? ErrorCode.QUEUE_FULL : ErrorCode.STORAGE, `request refused: ${reason}`);
  const reply = failReply(handler, request, err);
  return reply ? encodeReply(req.seqNum, request, reply) : null;
}
