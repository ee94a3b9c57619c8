/**
 * Every client command the access server serves: command id → handler
 * (and its refusal). One file per command family.
 */
import { handlers as buddy } from './buddy.ts';
import { handlers as caps } from './caps.ts';
import { handlers as file } from './file.ts';
import { handlers as group } from './group.ts';
import { handlers as login } from './login.ts';
import { handlers as messageQuery } from './message-query.ts';
import { handlers as message } from './message.ts';
import { handlers as other } from './other.ts';
import { handlers as settings } from './settings.ts';
import type { HandlerEntry } from './types.ts';

export const handlerTable: ReadonlyArray<HandlerEntry> = [
  ...login,
  ...message,
  ...other,
  ...buddy,
  ...group,
  ...messageQuery,
  ...settings,
  ...file,
  ...caps,
];
