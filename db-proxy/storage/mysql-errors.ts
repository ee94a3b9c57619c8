import { ErrorCode, ImError, isImError } from '../../common/errors.ts';

/**
 * What a failed MySQL call says about the statement it carried:
 * - `not-sent`: nothing reached the server (no connection within the bound,
 *   the deadline was over before sending, connect refused);
 * - `failed`: the server answered with an error, so the statement (and with
 *   a multi-statement transaction, everything after it, COMMIT included) did
 *   not take effect;
 * - `unknown`: it was sent and no answer came (timeout, connection lost):
 *   the server may have executed it, COMMIT included.
 */
export type MysqlFailure = 'not-sent' | 'failed' | 'unknown';

/** Server errors that say "try again later" rather than "this row is wrong". */
const TRANSIENT_ERRNOS: ReadonlySet<number> = new Set([
  1053, // server shutdown in progress
  1205, // lock wait timeout
  1213, // deadlock
  1317, // query execution was interrupted
  1927, // connection was killed
  1969, // max_statement_time exceeded
]);

export const ER_DUP_ENTRY = 1062;

/** The server's error number behind `err`, or null when the error did not come from the server. */
export function serverErrno(err: unknown): number | null {
  let e: unknown = err;
  for (let i = 0; i < 4 && e !== null && typeof e === 'object'; i++) {
    const { errno, sqlState } = e as { errno?: unknown; sqlState?: unknown };
    if (typeof errno === 'number' && errno > 0 && typeof sqlState === 'string') return errno;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

export function classify(err: unknown): MysqlFailure {
  if (isImError(err, ErrorCode.STORAGE_UNAVAILABLE)) return 'not-sent';
  if (isImError(err, ErrorCode.TIMEOUT)) return 'unknown';
  return serverErrno(err) === null ? 'unknown' : 'failed';
}

/** A server error worth retrying (locks, timeouts, a killed connection). */
export function isTransient(err: unknown): boolean {
  const errno = serverErrno(err);
  return errno !== null && TRANSIENT_ERRNOS.has(errno);
}

export function notSent(message: string, cause?: unknown): ImError {
  return new ImError(ErrorCode.STORAGE_UNAVAILABLE, `mysql: ${message}`, cause === undefined ? undefined : { cause });
}
