/**
 * CID_OTHER_PUSH_TO_USER_REQ → CID_OTHER_PUSH_TO_USER_RSP.
 *
 * The answer carries the request's seq number and one PushResult per token,
 * in request order, `user_token` = the token and `result_code` 0 (sent) or
 * 1 (not sent), the two codes of TeamTalk's push_server. TeamTalk answers
 * as soon as the pushes are handed to Apple's gateway (whose old binary
 * protocol says nothing back); here the answer waits for each provider's
 * verdict, so 1 also covers dead tokens, refusals and retries given up.
 * The wait is bounded by the retry budget plus one HTTP timeout.
 * A body that does not decode is answered with an empty list (TeamTalk
 * closes the link); the link stays.
 */
import { Cid, decodeBody, encodeBody } from '../../proto/commands.ts';
import { encodePdu, type Pdu } from '../../proto/header.ts';
import type { IM } from '../../proto/messages.ts';
import type { PushLink } from '../link.ts';
import type { PushContext } from './types.ts';

function answer(link: PushLink, seqNum: number, pushResultList: { userToken: string; resultCode: number }[]): void {
  const body = encodeBody(Cid.CID_OTHER_PUSH_TO_USER_RSP, { pushResultList });
  if (!link.write(encodePdu({ commandId: Cid.CID_OTHER_PUSH_TO_USER_RSP, seqNum }, body))) {
    link.log.debug({ seqNum, results: pushResultList.length }, 'link gone; push answer dropped');
  }
}

export function onPushToUser(ctx: PushContext, link: PushLink, pdu: Pdu): void {
  const { seqNum, length } = pdu.header;
  ctx.stats.requests++;
  let req: IM.Server.IMPushToUserReq;
  try {
    req = decodeBody(Cid.CID_OTHER_PUSH_TO_USER_REQ, pdu.body);
  } catch (err) {
    ctx.stats.badBodies++;
    link.log.warn({ err, seqNum, bytes: pdu.body.length }, 'undecodable push request; answered empty');
    answer(link, seqNum, []);
    return;
  }
  const tokens = req.userTokenList;
  link.began(length);
  void ctx.engine
    .push(link.id, tokens, req.flash, req.data, length)
    .then(
      (codes) => answer(link, seqNum, tokens.map((t, i) => ({ userToken: t.token, resultCode: codes[i]! }))),
      (err: unknown) => link.log.error({ err, seqNum }, 'push failed unexpectedly; not answered'),
    )
    .finally(() => link.finished(length));
}
