import { createHash, timingSafeEqual } from 'node:crypto';
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { USER_COLUMNS, toUserInfo, type UserRow } from './buddy.ts';
import { pushHandlers } from './login-push.ts';
import type { Handler, HandlerContext, Reply } from './types.ts';

type ValidateReq = IM.Server.IIMValidateReq;

/** CID_OTHER_VALIDATE_RSP result codes (TeamTalk's values). */
export const ValidateResult = {
  OK: 0,
  /** Unknown user, disabled user (status != 0) or wrong password: one answer for all three. */
  BAD_CREDENTIALS: 1,
  /** The request could not be checked (storage failure, overload). */
  INTERNAL: 2,
  /** More than MAX_FAILURES wrong passwords for this name within the window. */
  TOO_MANY_FAILURES: 6,
} as const;

const RESULT_TEXT: Record<number, string> = {
  [ValidateResult.OK]: 'ok',
  [ValidateResult.BAD_CREDENTIALS]: 'wrong user name or password',
  [ValidateResult.INTERNAL]: 'internal server error',
  [ValidateResult.TOO_MANY_FAILURES]: 'too many wrong passwords, try again later',
};

/** IMUser.name is varchar(32): a longer name cannot exist, so it is refused without a look-up. */
const MAX_NAME_CHARS = 32;
/** TeamTalk's lockout: more than 10 wrong passwords within 30 minutes. */
const MAX_FAILURES = 10;
const FAILURE_WINDOW_S = 30 * 60;

/**
 * Wrong-password counter per login name. TeamTalk keeps it in each db proxy's
 * memory; here it lives in Redis so every worker and every db-proxy share it.
 * The window restarts with each failure and a success clears it.
 */
export function failureKey(name: string): string {
  return `login_fail_${name}`;
}

/** TeamTalk's password check: stored = md5hex(<what the client sends> + salt). */
export function passwordMatches(sent: string, salt: string, stored: string): boolean {
  const digest = Buffer.from(createHash('md5').update(sent + salt, 'utf8').digest('hex'), 'latin1');
  const expected = Buffer.from(stored.toLowerCase(), 'latin1');
  return expected.length === digest.length && timingSafeEqual(digest, expected);
}

interface CredRow extends UserRow {
  password: string;
  salt: string;
}

function answer(req: ValidateReq, resultCode: number, userInfo?: IM.BaseDefine.IUserInfo): Reply {
  const message: IM.Server.IIMValidateRsp = { userName: req.userName ?? '', resultCode, resultString: RESULT_TEXT[resultCode] ?? '' };
  if (userInfo) message.userInfo = userInfo;
  return { commandId: Cid.CID_OTHER_VALIDATE_RSP, message };
}

/**
 * CID_OTHER_VALIDATE_REQ (msg server checking a login), batched: one
 * `name IN (...)` query and one counter read for the whole batch, every
 * value a bound parameter. Only users with status 0 may log in; the answer
 * carries the user's UserInfo with status 0.
 */
export const validate: Handler<ValidateReq> = {
  commandId: Cid.CID_OTHER_VALIDATE_REQ,
  fail: (req) => answer(req, ValidateResult.INTERNAL),
  async run(ctx, reqs) {
    const names = [...new Set(reqs.map((r) => r.userName ?? '').filter((n) => n !== '' && [...n].length <= MAX_NAME_CHARS))];
    if (names.length === 0) return reqs.map((r) => answer(r, ValidateResult.BAD_CREDENTIALS));
    const [rows, counts] = await Promise.all([
      ctx.mysql.query<CredRow[]>(
        ctx.mysql.main,
        `SELECT ${USER_COLUMNS}, password, salt FROM IMUser WHERE name IN (?) AND status = 0 ORDER BY id`,
        [names],
      ),
      ctx.redis.mget(names.map(failureKey)).catch((err: unknown) => {
        // Without Redis the lockout cannot be checked; logins still work.
        ctx.log.warn({ err }, 'login failure counters unavailable');
        return names.map(() => null);
      }),
    ]);
    const failures = new Map(names.map((n, i) => [n, Number(counts[i] ?? 0)]));
    const failed = new Map<string, number>();
    const succeeded = new Set<string>();
    const out = reqs.map((req) => {
      const name = req.userName ?? '';
      if (!failures.has(name)) return answer(req, ValidateResult.BAD_CREDENTIALS);
      if (failures.get(name)! + (failed.get(name) ?? 0) > MAX_FAILURES) return answer(req, ValidateResult.TOO_MANY_FAILURES);
      const user = candidates(rows, name).find((r) => passwordMatches(req.password ?? '', r.salt, r.password));
      if (!user) {
        failed.set(name, (failed.get(name) ?? 0) + 1);
        return answer(req, ValidateResult.BAD_CREDENTIALS);
      }
      if (failures.get(name)! > 0) succeeded.add(name);
      return answer(req, ValidateResult.OK, { ...toUserInfo(user), status: 0 });
    });
    await recordOutcomes(ctx, failed, succeeded);
    return out;
  },
};

/**
 * The rows a name stands for. The database compared with the column's
 * collation (binary in our schema; a TeamTalk dump may be case-insensitive):
 * exact matches first, otherwise the rows it matched ignoring case and
 * trailing spaces. Several accounts under one name are tried in id order.
 */
function candidates(rows: readonly CredRow[], name: string): CredRow[] {
  const exact = rows.filter((r) => r.name === name);
  if (exact.length > 0) return exact;
  const loose = name.toLowerCase().trimEnd();
  return rows.filter((r) => r.name.toLowerCase().trimEnd() === loose);
}

async function recordOutcomes(ctx: HandlerContext, failed: Map<string, number>, succeeded: Set<string>): Promise<void> {
  if (failed.size === 0 && succeeded.size === 0) return;
  const pipe = ctx.redis.pipeline();
  for (const [name, n] of failed) pipe.incrby(failureKey(name), n).expire(failureKey(name), FAILURE_WINDOW_S);
  for (const name of succeeded) if (!failed.has(name)) pipe.del(failureKey(name));
  try {
    const res = await pipe.exec();
    const err = res?.find(([e]) => e)?.[0];
    if (err) ctx.log.warn({ err }, 'login failure counters not updated');
  } catch (err) {
    // The answers stand; only the lockout bookkeeping is behind.
    ctx.log.warn({ err }, 'login failure counters not updated');
  }
}

export const handlers: Handler<never>[] = [validate, ...pushHandlers] as Handler<never>[];
