/**
 * Links to TeamTalk login_servers (LOGIN_SERVERS, their msg_server port,
 * 8100 by default): this access server registers there as a TeamTalk
 * msg_server does, so that the login_server's GET /msg_server offers it to
 * clients — CID_OTHER_MSG_SERV_INFO on every (re)connect, then
 * CID_OTHER_USER_CNT_UPDATE as connections come and go. TeamTalk's
 * login_server knows no handshake; it answers nothing but heartbeats.
 */
import type { Logger } from 'pino';
import { Cid, encodeBody } from '../proto/commands.ts';
import type { IM } from '../proto/messages.ts';
import { encodePdu } from '../proto/header.ts';
import type { PeerAddress, PeerLinkTimings } from './config.ts';
import { PeerLink } from './peer-link.ts';

export class LoginServerLinks {
  private readonly links: PeerLink[];

  constructor(
    servers: readonly PeerAddress[],
    timings: PeerLinkTimings,
    servInfo: () => IM.Server.IIMMsgServInfo,
    log: Logger,
  ) {
    const child = log.child({ peer: 'login-server' });
    this.links = servers.map(
      (addr) =>
        new PeerLink(addr, 0, { ...timings, secret: null }, child, {
          onOpen: (peer) => {
            const info = servInfo();
            peer.write(encodePdu({ commandId: Cid.CID_OTHER_MSG_SERV_INFO }, encodeBody(Cid.CID_OTHER_MSG_SERV_INFO, info)));
            peer.log.info({ link: peer.name, cur: info.curConnCnt, max: info.maxConnCnt }, 'registered with login_server');
          },
          onPdu: () => undefined,
          onDown: () => undefined,
        }),
    );
  }

  get configured(): number {
    return this.links.length;
  }

  get openCount(): number {
    return this.links.filter((l) => l.usable).length;
  }

  /** One connection more (1) or fewer (2), as TeamTalk's user_action. */
  count(userAction: 1 | 2, userId = 0): void {
    if (this.links.length === 0) return;
    const bytes = encodePdu({ commandId: Cid.CID_OTHER_USER_CNT_UPDATE }, encodeBody(Cid.CID_OTHER_USER_CNT_UPDATE, { userAction, userId }));
    for (const l of this.links) if (l.usable) l.write(bytes);
  }

  close(): void {
    for (const l of this.links) l.close();
  }
}
