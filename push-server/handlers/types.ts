import type { Pdu } from '../../proto/header.ts';
import type { PushEngine } from '../engine.ts';
import type { PushLink } from '../link.ts';
import type { PushStats } from '../metrics.ts';

/** What a handler can reach. */
export interface PushContext {
  readonly engine: PushEngine;
  readonly stats: PushStats;
}

/** Handles one PDU from `from`; returns at once (work goes on asynchronously) and never throws on bad input. */
export type Handler = (ctx: PushContext, from: PushLink, pdu: Pdu) => void;

/** Command id → handler. */
export type Registry = ReadonlyMap<number, Handler>;
