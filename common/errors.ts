/**
 * The one error catalog of the project. Every error we raise on purpose is an
 * ImError with a stable `code`; tests assert on the code, never on the message.
 */
export const ErrorCode = {
  /** A PDU header announced a length below the 16-byte header size. */
  FRAME_TOO_SHORT: 'IM_ERR_FRAME_TOO_SHORT',
  /** A PDU header announced a length above the configured maximum. */
  FRAME_TOO_LONG: 'IM_ERR_FRAME_TOO_LONG',
  /** A protobuf body could not be decoded as the message its command id names. */
  BAD_BODY: 'IM_ERR_BAD_BODY',
  /** A command id we have no entry for. */
  UNKNOWN_COMMAND: 'IM_ERR_UNKNOWN_COMMAND',
  /** A request got no response in time. */
  TIMEOUT: 'IM_ERR_TIMEOUT',
  /** db-proxy could not learn in time whether a message was stored (answer flag 0x4000). */
  OUTCOME_UNKNOWN: 'IM_ERR_OUTCOME_UNKNOWN',
  /** The connection closed (or was never open) while a request was pending. */
  CONNECTION_CLOSED: 'IM_ERR_CONNECTION_CLOSED',
  /** Too many requests in flight on one connection. */
  TOO_MANY_IN_FLIGHT: 'IM_ERR_TOO_MANY_IN_FLIGHT',
  /** A bounded queue is full; the request was refused, not buffered. */
  QUEUE_FULL: 'IM_ERR_QUEUE_FULL',
  /** A configuration value is missing or invalid. */
  BAD_CONFIG: 'IM_ERR_BAD_CONFIG',
  /** MySQL or Redis failed or could not be reached. */
  STORAGE: 'IM_ERR_STORAGE',
  /** No storage connection within the bound: nothing was sent, so nothing happened. */
  STORAGE_UNAVAILABLE: 'IM_ERR_STORAGE_UNAVAILABLE',
  /** The local stack (embedded MariaDB/Redis) could not be started. */
  STACK: 'IM_ERR_STACK',
  /** A migration failed. */
  MIGRATION: 'IM_ERR_MIGRATION',
  /** The process is shutting down and takes no new work. */
  SHUTTING_DOWN: 'IM_ERR_SHUTTING_DOWN',
  /** A login was refused: by the server (result code), or no access server was offered. */
  LOGIN_REFUSED: 'IM_ERR_LOGIN_REFUSED',
  /** A server-to-server link failed its authentication (CLUSTER_SECRET). */
  AUTH_FAILED: 'IM_ERR_AUTH_FAILED',
  /** A client sent more messages per second than its connection may. */
  RATE_LIMITED: 'IM_ERR_RATE_LIMITED',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class ImError extends Error {
  readonly code: ErrorCodeValue;

  constructor(code: ErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImError';
    this.code = code;
  }
}

export function isImError(err: unknown, code?: ErrorCodeValue): err is ImError {
  return err instanceof ImError && (code === undefined || err.code === code);
}
