/**
 * What the parts of push-server share: one push to one device token, the
 * provider's verdict on an attempt, and the result codes of
 * CID_OTHER_PUSH_TO_USER_RSP.
 */

/**
 * `PushResult.result_code` as TeamTalk's push_server sets it: 0 when the
 * token's push went out, 1 for everything else (not a phone, not sent).
 * TeamTalk has no third code, so a dead token is 1 too (and counted).
 */
export const PushResultCode = { OK: 0, FAILED: 1 } as const;
export type PushResultCodeValue = (typeof PushResultCode)[keyof typeof PushResultCode];

/** `UserTokenInfo.push_type`: TeamTalk's IM_PUSH_TYPE_NORMAL / _SILENT; anything but NORMAL is silent there. */
export const PushType = { NORMAL: 1, SILENT: 2 } as const;

export type ProviderName = 'apns' | 'fcm';

/** One notification for one device. */
export interface PushJob {
  token: string;
  /** The preview line, already in clear text (the access server opened it). */
  flash: string;
  /** The app's JSON (`{"msg_type":..,"from_id":..}`), passed on as a string. */
  data: string;
  /** Badge: the receiver's unread count (`push_count`). */
  badge: number;
  /** No alert and no sound, the badge only (a PC client of the receiver is on). */
  silent: boolean;
}

/** What one attempt at a provider came to. */
export type Verdict =
  | { kind: 'sent' }
  /** The token will never work again (app removed, token rotated, malformed). */
  | { kind: 'dead'; reason: string }
  /** Not delivered, and trying again would not help. */
  | { kind: 'failed'; reason: string }
  /** Worth another attempt: 429, 5xx, a lost connection, a timeout. */
  | { kind: 'retry'; reason: string; retryAfterMs?: number };

/** A push service (APNs, FCM): sends one job once; never rejects. */
export interface Provider {
  readonly name: ProviderName;
  send(job: PushJob): Promise<Verdict>;
  /** Closes its connections; in-flight sends end with a retry verdict. */
  close(): void;
}

/** A response from an HTTP/2 (or HTTPS) endpoint. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The largest notification payload APNs and FCM take, in bytes. */
export const MAX_PAYLOAD_BYTES = 4096;

/** The text of an error, for a verdict's reason. */
export function reasonOf(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.message;
  return String(err);
}
