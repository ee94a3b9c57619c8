import { decodeBody } from '../proto/commands.ts';
import { packReplies, unpackRequests, type BatchReply, type BatchRequest, type BatchResult, type BatchTask } from './batch.ts';
import type { Handler, HandlerContext, Registry, Reply } from './handlers/types.ts';
import { encodeReply, failReply } from './refusal.ts';
import { withDeadline } from './storage/deadline.ts';

interface Decoded {
  req: BatchRequest;
  index: number;
  message: Record<string, unknown>;
}

/**
 * Runs one batch: decodes every request by its command id, hands each
 * command's requests (in arrival order) to its handler, and encodes the
 * answers as whole PDUs carrying the request's seq number and attach_data.
 * Never throws: a failing handler's requests get its explicit refusal.
 */
export function runBatch(ctx: HandlerContext, registry: Registry, task: BatchTask): Promise<BatchResult> {
  return withDeadline(task.deadline, () => run(ctx, registry, task));
}

async function run(ctx: HandlerContext, registry: Registry, task: BatchTask): Promise<BatchResult> {
  // Reads follow a new shard map from the next batch on; writes wait for it (message-store.ts).
  await ctx.syncMap().catch((err: unknown) => ctx.log.warn({ err }, 'shard map not reloaded; this batch reads with the previous one'));
  const groups = new Map<number, Decoded[]>();
  const replies: BatchReply[] = [];
  for (const [index, req] of unpackRequests(task).entries()) {
    const handler = registry.get(req.commandId);
    if (!handler) {
      ctx.log.warn({ link: req.uuid, commandId: req.commandId }, 'no handler for command');
      continue;
    }
    let message: Record<string, unknown>;
    try {
      message = decodeBody(req.commandId, req.body) as unknown as Record<string, unknown>;
    } catch (err) {
      ctx.log.warn({ link: req.uuid, commandId: req.commandId, err }, 'undecodable request body');
      pushReply(replies, req, index, {}, safeFail(ctx, handler, {}, err), ctx);
      continue;
    }
    let group = groups.get(req.commandId);
    if (!group) groups.set(req.commandId, (group = []));
    group.push({ req, index, message });
  }
  await Promise.all(
    [...groups].map(async ([commandId, items]) => {
      const handler = registry.get(commandId)!;
      const messages = items.map((d) => d.message as never);
      let answers: (Reply | null)[];
      try {
        answers = await handler.run(ctx, messages);
      } catch (err) {
        ctx.log.warn({ commandId, count: items.length, err }, 'handler failed');
        answers = messages.map((m) => safeFail(ctx, handler, m, err));
      }
      items.forEach((d, i) => pushReply(replies, d.req, d.index, d.message, answers[i] ?? null, ctx));
    }),
  );
  return packReplies(replies);
}

function safeFail(ctx: HandlerContext, handler: Handler<never>, message: object, err: unknown): Reply | null {
  const reply = failReply(handler, message, err);
  if (!reply) ctx.log.debug({ commandId: handler.commandId }, 'no answer for a failed request');
  return reply;
}

function pushReply(
  out: BatchReply[],
  req: BatchRequest,
  index: number,
  request: Record<string, unknown>,
  reply: Reply | null,
  ctx: HandlerContext,
): void {
  if (!reply) return;
  try {
    out.push({ uuid: req.uuid, index, pdu: encodeReply(req.seqNum, request, reply) });
  } catch (err) {
    ctx.log.error({ err, commandId: reply.commandId }, 'answer could not be encoded');
  }
}
