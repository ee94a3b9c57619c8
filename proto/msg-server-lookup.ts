/**
 * Login balancing, client side: GET <routeUrl>/msg_server answers TeamTalk's
 * JSON {"code":0,"msg":"","priorIP":"..","backupIP":"..","port":"8000",...};
 * code 1 means no access server is registered, 2 that all are full.
 */
import { ErrorCode, ImError } from '../common/errors.ts';

export interface MsgServerAddress {
  host: string;
  port: number;
  /** backupIP: a second address of the same server. */
  backupHost: string;
}

interface MsgServerJson {
  code?: number;
  msg?: string;
  priorIP?: string;
  backupIP?: string;
  port?: string | number;
}

/** Asks a route-server which access server to log in to. Rejects with IM_ERR_LOGIN_REFUSED when none is offered. */
export async function findMsgServer(routeUrl: string, timeoutMs = 5000): Promise<MsgServerAddress> {
  const url = new URL('/msg_server', routeUrl);
  let body: MsgServerJson;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = (await res.json()) as MsgServerJson;
  } catch (err) {
    const code = (err as Error).name === 'TimeoutError' ? ErrorCode.TIMEOUT : ErrorCode.CONNECTION_CLOSED;
    throw new ImError(code, `GET ${url.href} failed: ${(err as Error).message}`, { cause: err });
  }
  if (body.code !== 0) {
    throw new ImError(ErrorCode.LOGIN_REFUSED, `${url.href}: code ${body.code}, ${body.msg || 'no access server offered'}`);
  }
  const port = Number(body.port);
  if (!body.priorIP || !Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new ImError(ErrorCode.LOGIN_REFUSED, `${url.href}: unusable answer ${JSON.stringify(body).slice(0, 200)}`);
  }
  return { host: body.priorIP, port, backupHost: body.backupIP || body.priorIP };
}
