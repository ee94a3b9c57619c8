import { processMetrics, type Metric } from '../common/ops-http.ts';
import type { ProviderName } from './types.ts';

/** push-server's counters; the parts that do the work add to them. */
export interface PushStats {
  /** Open access-server links. */
  links: number;
  /** Links admitted since start. */
  linksAccepted: number;
  /** Connections closed at accept: untrusted address, PUSH_MAX_LINKS, shutting down. */
  linksRefused: number;
  /** CID_OTHER_PUSH_TO_USER_REQ read. */
  requests: number;
  /** Device tokens in those requests. */
  received: number;
  /** Tokens a provider accepted. */
  sent: Record<ProviderName, number>;
  /** Tokens answered with result 1, for whatever reason (the counters below say which). */
  failed: number;
  /** Tokens the provider says will never work (APNs 410 / BadDeviceToken, FCM UNREGISTERED) or malformed ones. */
  dead: number;
  /** Attempts scheduled again after 429, 5xx, a lost connection or a timeout. */
  retries: number;
  /** Tokens given up after PUSH_MAX_ATTEMPTS or PUSH_RETRY_BUDGET_MS. */
  gaveUp: number;
  /** Tokens refused because the queue was full (items or bytes) or the server was shutting down. */
  refused: number;
  /** Tokens for a provider that is not configured. */
  unconfigured: number;
  /** Tokens of a client type with no push service (PC clients). */
  unsupported: number;
  /** Requests whose body did not decode (answered with an empty result list). */
  badBodies: number;
  /** PDUs of a command push-server does not serve (ignored). */
  unknownCommands: number;
}

export function newStats(): PushStats {
  return {
    links: 0, linksAccepted: 0, linksRefused: 0, requests: 0, received: 0, sent: { apns: 0, fcm: 0 }, failed: 0, dead: 0,
    retries: 0, gaveUp: 0, refused: 0, unconfigured: 0, unsupported: 0, badBodies: 0, unknownCommands: 0,
  };
}

/** The gauges of the queue, read when /metrics is asked. */
export interface QueueGauges {
  /** Tokens waiting for a slot, all providers. */
  queued: number;
  /** Tokens being sent or backing off. */
  active: number;
  /** Bytes of requests with tokens not yet settled. */
  bytes: number;
}

function counter(name: string, help: string, value: number): Metric {
  return { name: `push_${name}_total`, help, type: 'counter', value };
}

function gauge(name: string, help: string, value: number): Metric {
  return { name: `push_${name}`, help, type: 'gauge', value };
}

export function metricsOf(s: PushStats, q: QueueGauges): Metric[] {
  return [
    gauge('links', 'Open access-server links.', s.links),
    gauge('queue_depth', 'Tokens waiting for a provider slot.', q.queued),
    gauge('in_flight', 'Tokens being sent or waiting out a retry backoff.', q.active),
    gauge('queue_bytes', 'Bytes of requests whose tokens are not all settled.', q.bytes),
    counter('links_accepted', 'Links admitted since start.', s.linksAccepted),
    counter('links_refused', 'Connections refused at accept (untrusted address, PUSH_MAX_LINKS, shutdown).', s.linksRefused),
    counter('requests', 'CID_OTHER_PUSH_TO_USER_REQ received.', s.requests),
    counter('received', 'Device tokens received.', s.received),
    counter('apns_sent', 'Tokens APNs accepted.', s.sent.apns),
    counter('fcm_sent', 'Tokens FCM accepted.', s.sent.fcm),
    counter('failed', 'Tokens answered as failed (result 1).', s.failed),
    counter('dead_tokens', 'Tokens reported dead by the provider, or malformed.', s.dead),
    counter('retries', 'Attempts retried after 429, 5xx, a lost connection or a timeout.', s.retries),
    counter('gave_up', 'Tokens given up after the retry bounds.', s.gaveUp),
    counter('refused', 'Tokens refused: queue full or shutting down.', s.refused),
    counter('unconfigured', 'Tokens for a provider that is not configured.', s.unconfigured),
    counter('unsupported', 'Tokens of a client type without a push service.', s.unsupported),
    counter('bad_bodies', 'Requests whose body did not decode.', s.badBodies),
    counter('unknown_commands', 'PDUs of commands push-server does not serve.', s.unknownCommands),
    ...processMetrics('push'),
  ];
}
