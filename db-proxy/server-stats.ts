export interface ServerStats {
  links: number;
  /** Links dropped at accept or admission: no room, or (counted apart) failed handshakes. */
  linksRefused: number;
  requests: number;
  replies: number;
  /** Answers whose link was gone when they were ready. */
  repliesDropped: number;
  refusedOverload: number;
  unknownCommands: number;
  /** Requests answered at their deadline before they ran (so known not done). */
  expiredQueued: number;
  /** Requests answered at their deadline while their batch ran ("outcome unknown" for messages). */
  expiredRunning: number;
  /** Answers that came after the request had been answered at its deadline (dropped). */
  lateAnswers: number;
}

export function newServerStats(): ServerStats {
  return { links: 0, linksRefused: 0, requests: 0, replies: 0, repliesDropped: 0, refusedOverload: 0, unknownCommands: 0, expiredQueued: 0, expiredRunning: 0, lateAnswers: 0 };
}
