import type { PushStats } from './push.ts';
import type { Metric } from '../common/ops-http.ts';
import type { ClientConnection } from './client-conn.ts';
import type { DbLinks } from './db-links.ts';
import type { Delivery } from './delivery.ts';
import type { Dispatcher } from './dispatcher.ts';
import type { MessageStats } from './handlers/types.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { RouteLinks } from './route-links.ts';
import type { ClientServer } from './server.ts';
import type { Sessions } from './sessions.ts';

export interface MetricSources {
  server: ClientServer;
  sessions: Sessions<ClientConnection>;
  db: DbLinks;
  route: RouteLinks;
  dispatcher: Dispatcher;
  delivery: Delivery;
  loginThrottle: LoginThrottle;
  messages: MessageStats;
  /** Null: no push server configured. */
  push: PushStats | null;
}

function gauge(name: string, help: string, value: number): Metric {
  return { name: `access_${name}`, help, type: 'gauge', value };
}

function counter(name: string, help: string, value: number): Metric {
  return { name: `access_${name}_total`, help, type: 'counter', value };
}

/** The access server's /metrics, read from its parts' counters. */
export function metricsOf(p: MetricSources): Metric[] {
  return [
    gauge('connections', 'Open client connections (logged in or not).', p.server.size),
    gauge('sessions', 'Logged-in client connections.', p.sessions.count),
    gauge('online_users', 'Users with at least one connection here.', p.sessions.users),
    gauge('db_links_usable', 'db-proxy links taking requests.', p.db.usableCount),
    gauge('db_pending', 'Requests waiting for db-proxy.', p.db.pendingCount),
    gauge('route_links_usable', 'route-server links up.', p.route.usableCount),
    counter('connections_accepted', 'Client connections accepted.', p.server.stats.accepted),
    counter('connections_refused', 'Client connections closed at once: over the cap.', p.server.stats.refusedOverCap),
    counter('connections_timed_out', 'Clients dropped for login timeout or silence.', p.server.stats.timedOut),
    counter('requests', 'Client requests dispatched.', p.dispatcher.stats.requests),
    counter('requests_unknown', 'Client requests with a command not served.', p.dispatcher.stats.unknownCommands),
    counter('requests_rate_limited', 'Messages refused over the per-connection rate.', p.dispatcher.stats.rateLimited),
    counter('messages_refused_answered', 'Messages not stored, answered msg_id 0 (clients that asked for refusal-ack).', p.messages.refusedAnswered),
    counter('messages_refused_unanswered', 'Messages not stored, left unanswered (TeamTalk clients: silence is their refusal).', p.messages.refusedUnanswered),
    counter('messages_outcome_unknown', 'Messages whose storage nobody could confirm in time: connection closed, no answer.', p.messages.outcomeUnknown),
    counter('login_throttled', 'Login attempts refused over the per-source login rate (db-proxy never saw them).', p.loginThrottle.stats.throttled),
    gauge('login_throttle_sources', 'Client sources (IPv4 address, IPv6 /64) the login throttle tracks.', p.loginThrottle.size),
    counter('login_throttle_evicted', 'Login throttle buckets dropped to stay within ACCESS_LOGIN_THROTTLE_SOURCES.', p.loginThrottle.stats.evicted),
    counter('handler_errors', 'Handlers that threw.', p.dispatcher.stats.handlerErrors),
    counter('pushes_local', 'PDUs pushed to local connections.', p.delivery.stats.local),
    counter('deliveries_routed', 'Deliveries sent through a route-server.', p.delivery.stats.routed),
    counter('deliveries_inbound', 'Deliveries received from route-servers.', p.delivery.stats.inbound),
    counter('route_unsent', 'Deliveries no route-server link took at once (kept in the backlog, or dropped).', p.route.stats.unsent),
    gauge('route_backlog', 'Deliveries waiting for a route-server link.', p.route.backlogSize),
    counter('route_backlog_dropped', 'Deliveries dropped: backlog full or too old (the messages stay unread).', p.route.stats.dropped),
    gauge('route_unacked', 'Deliveries written to route-servers and not acked yet.', p.route.unackedSize),
    counter('route_acked', 'Deliveries route-servers acked.', p.route.stats.acked),
    counter('route_resent', 'Deliveries handed on again: their route-server link dropped before acking them.', p.route.stats.resent),
    counter('route_status_skipped', 'Status notifies from a route-server other than the first usable one (each is taken from one).', p.route.stats.statusSkipped),
    counter('route_untracked', 'Deliveries written without an ack expected (a link at its unacked bound).', p.route.stats.untracked),
    counter('deliveries_duplicate', 'Messages from route-servers already pushed here; not pushed again.', p.delivery.stats.duplicates),
    counter('db_answers_late', 'db-proxy answers that came after their request timed out (dropped).', p.db.stats.late),
    counter('db_answers_unmatched', 'db-proxy answers matching no request (dropped).', p.db.stats.unmatched),
    ...(p.push
      ? [
          counter('push_tokens_sent', 'Device tokens pushed to a push server.', p.push.sent),
          counter('push_skipped', 'Messages or push requests not pushed: no push server up, or too many pushes being prepared.', p.push.skipped),
          counter('push_failed', 'Pushes given up: the token or mute lookup failed.', p.push.failed),
        ]
      : []),
  ];
}
