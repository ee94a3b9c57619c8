import { Cid } from '../../proto/commands.ts';
import { onPushToUser } from './push.ts';
import type { Handler, Registry } from './types.ts';

/** Every command push-server serves (heartbeats are echoed by the listener itself, as TeamTalk's push_server does). */
export const registry: Registry = new Map<number, Handler>([[Cid.CID_OTHER_PUSH_TO_USER_REQ, onPushToUser]]);
