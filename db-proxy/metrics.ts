import type { Metric } from '../common/ops-http.ts';
import type { OutcomeCounters } from './outcome-stats.ts';
import type { DbProxyServer } from './server.ts';

/** Deadlines, byte budgets and message outcomes, for /metrics. */
export function answerMetrics(server: DbProxyServer, outcomes: OutcomeCounters): Metric[] {
  const s = server.stats;
  return [
    { name: 'dbproxy_held_bytes', help: 'Body bytes of requests not yet answered (queued or running).', type: 'gauge', value: server.heldBytes },
    { name: 'dbproxy_expired_queued_total', help: 'Requests refused at their deadline before they ran.', type: 'counter', value: s.expiredQueued },
    { name: 'dbproxy_expired_running_total', help: 'Requests answered at their deadline while their batch ran.', type: 'counter', value: s.expiredRunning },
    { name: 'dbproxy_late_answers_total', help: 'Answers dropped because the request was answered at its deadline.', type: 'counter', value: s.lateAnswers },
    { name: 'dbproxy_msg_outcome_unknown_total', help: 'Messages a worker answered "outcome unknown".', type: 'counter', value: outcomes.get('unknownAnswered') },
    { name: 'dbproxy_msg_stored_after_doubt_total', help: 'Messages found stored after an ambiguous failure, before answering.', type: 'counter', value: outcomes.get('storedAfterDoubt') },
    { name: 'dbproxy_msg_resolved_stored_total', help: 'Unknown outcomes resolved later as stored.', type: 'counter', value: outcomes.get('resolvedStored') },
    { name: 'dbproxy_msg_resolved_absent_total', help: 'Unknown outcomes resolved later as not stored.', type: 'counter', value: outcomes.get('resolvedAbsent') },
    { name: 'dbproxy_msg_unresolved', help: 'Unknown outcomes still being resolved.', type: 'gauge', value: outcomes.get('unresolved') },
    { name: 'dbproxy_msg_unresolved_dropped_total', help: 'Unknown outcomes given up on (list full).', type: 'counter', value: outcomes.get('unresolvedDropped') },
    { name: 'dbproxy_msg_refused_text_total', help: 'Texts refused before a msg id (too long or not UTF-8).', type: 'counter', value: outcomes.get('refusedText') },
  ];
}
