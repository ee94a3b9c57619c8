import { createHash, timingSafeEqual } from 'node:crypto';
import { parseAttach } from '../../common/attach.ts';
import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import { USER_COLUMNS, toUserInfo, type UserRow } from './buddy.ts';
import { lockDelayMs, readLocks, recordLocks, type LockState } from './login-lockout.ts';
import { pushHandlers } from './login-push.ts';
import type { Handler, Reply } from './types.ts';

type ValidateReq = IM.Server.IIMValidateReq;

/** CID_OTHER_VALIDATE_RSP result codes (TeamTalk's values). */
export const ValidateResult = {
  OK: 0,
  /** Unknown user, disabled user (status != 0) or wrong password: one answer for all three. */
  BAD_CREDENTIALS: 1,
  /** The request could not be checked (storage failure, overload). */
  INTERNAL: 2,
  /** Too many wrong passwords for this name from this address: locked for a while (login-lockout.ts). */
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
 * `name IN (...)` query and one lockout read for the whole batch, every
 * value a bound parameter. Names are compared byte for byte (BINARY: the
 * column's PAD SPACE collation would let "alice " in as "alice", a
 * case-insensitive TeamTalk dump "Alice"). Only users with status 0 may log
 * in; the answer carries the user's UserInfo with status 0. Wrong passwords
 * back off per (name, client address): login-lockout.ts; unknown names
 * count like wrong passwords, so a lockout does not tell which names exist.
 */
export const validate: Handler<ValidateReq> = {
  commandId: Cid.CID_OTHER_VALIDATE_REQ,
  fail: (req) => answer(req, ValidateResult.INTERNAL),
  async run(ctx, reqs) {
    const valid = (n: string): boolean => n !== '' && [...n].length <= MAX_NAME_CHARS;
    const names = [...new Set(reqs.map((r) => r.userName ?? '').filter(valid))];
    if (names.length === 0) return reqs.map((r) => answer(r, ValidateResult.BAD_CREDENTIALS));
    const keyOf = (r: ValidateReq): string => `${parseAttach(r.attachData)?.source ?? ''}|${r.userName ?? ''}`;
    const wanted = new Map<string, { name: string; source: string }>();
    for (const r of reqs) if (valid(r.userName ?? '')) wanted.set(keyOf(r), { name: r.userName!, source: parseAttach(r.attachData)?.source ?? '' });
    const [rows, states] = await Promise.all([
      ctx.mysql.query<CredRow[]>(
        ctx.mysql.main,
        `SELECT ${USER_COLUMNS}, password, salt FROM IMUser WHERE name IN (?) AND BINARY name IN (?) AND status = 0 ORDER BY id`,
        [names, names],
      ),
      readLocks(ctx, [...wanted.values()]),
    ]);
    const stateOf = new Map([...wanted.keys()].map((k, i) => [k, states[i]!]));
    const failed = new Map<LockState, number>();
    const succeeded = new Set<LockState>();
    const out = reqs.map((req) => {
      const state = stateOf.get(keyOf(req));
      if (!state) return answer(req, ValidateResult.BAD_CREDENTIALS);
      if (state.locked) return answer(req, ValidateResult.TOO_MANY_FAILURES);
      const user = rows.filter((r) => r.name === state.name).find((r) => passwordMatches(req.password ?? '', r.salt, r.password));
      if (!user) {
        failed.set(state, (failed.get(state) ?? 0) + 1);
        state.failures += 1;
        // Later attempts of this batch meet the lock this failure starts.
        if (lockDelayMs(state.failures, state.source) > 0) state.locked = true;
        return answer(req, ValidateResult.BAD_CREDENTIALS);
      }
      if (state.failures > 0) succeeded.add(state);
      return answer(req, ValidateResult.OK, { ...toUserInfo(user), status: 0 });
    });
    await recordLocks(ctx, failed, succeeded);
    return out;
  },
};

export const handlers: Handler<never>[] = [validate, ...pushHandlers] as Handler<never>[];
