/** Writing to links: a PDU as it came, and a write that counts. */
import { encodePdu, type Pdu } from '../../proto/header.ts';
import type { RouteLink } from '../link.ts';
import type { RouteContext } from './types.ts';

/** The PDU as it came in: same header fields (seq as given), same body. */
export function reframe(pdu: Pdu, seqNum = pdu.header.seqNum): Uint8Array {
  const h = pdu.header;
  return encodePdu({ commandId: h.commandId, serviceId: h.serviceId, seqNum, flag: h.flag, version: h.version, reserved: h.reserved }, pdu.body);
}

/** Writes to link `id` if it is still open; counts what was written. */
export function send(ctx: RouteContext, id: number, bytes: Uint8Array): RouteLink | undefined {
  const link = ctx.link(id);
  if (!link || link.closed) return undefined;
  if (link.write(bytes)) ctx.stats.forwarded++;
  return link;
}
