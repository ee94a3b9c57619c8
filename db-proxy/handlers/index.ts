import { handlers as buddy } from './buddy.ts';
import { handlers as file } from './file.ts';
import { handlers as group } from './group.ts';
import { handlers as login } from './login.ts';
import { msgData } from './message-data.ts';
import { handlers as messageRead } from './message-read.ts';
import type { Handler, Registry } from './types.ts';

/** Every command db-proxy answers (TeamTalk's db_proxy_server command set). */
export const registry: Registry = new Map<number, Handler<never>>(
  [msgData as Handler<never>, ...login, ...buddy, ...messageRead, ...group, ...file].map((h) => [h.commandId, h]),
);
