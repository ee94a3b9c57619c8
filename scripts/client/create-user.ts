/**
 * Operator shortcut for people trying the cluster: TeamTalk has no
 * registration command (users come from an admin back office), so
 * `npm run client -- --create-user NAME PASSWORD` inserts a row into IMUser
 * directly, with TeamTalk's password scheme: password = md5hex(md5hex(plain)
 * + salt), salt four digits. Which MySQL: MYSQL_URL, else the embedded stack
 * that `npm start` (or `npm run stack -- start`) runs, database `teamtalk`.
 */
import { randomInt } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { urlFromEnv, type Env } from '../../common/config.ts';
import { md5hex } from '../../proto/session.ts';
import { runningStack } from '../stack.ts';

/** IMUser.name and .nick are varchar(32). */
const MAX_NAME_CHARS = 32;
const DEFAULT_DEPART_ID = 1;

/** The MySQL database to write to; throws with what to do when there is none. */
export function userDatabaseUrl(env: Env): string {
  const url = urlFromEnv(env, 'MYSQL_URL', ['mysql']) ?? runningStack()?.mysqlUrl;
  if (url === undefined) {
    throw new Error('no MySQL to write to: start the cluster with `npm start` (in another shell), or set MYSQL_URL');
  }
  const u = new URL(url);
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/teamtalk';
  return u.toString();
}

/** TeamTalk's stored password for a plain one: [md5hex(md5hex(plain) + salt), salt]. */
export function hashPassword(plain: string, salt = String(randomInt(1000, 10_000))): [string, string] {
  return [md5hex(md5hex(plain) + salt), salt];
}

/** Inserts a user; resolves with its id. Refuses a name that already exists. */
export async function createUser(mysqlUrl: string, name: string, password: string, nick = name): Promise<number> {
  if (!/^[\w.@-]{1,32}$/.test(name)) throw new Error(`user name: 1-${MAX_NAME_CHARS} of letters, digits, _ . @ -`);
  if (password === '') throw new Error('password: must not be empty');
  const conn = await mysql.createConnection({ uri: mysqlUrl });
  try {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT id FROM IMUser WHERE name = ? LIMIT 1', [name]);
    if (rows.length > 0) throw new Error(`user ${name} exists already (id ${rows[0]!.id})`);
    const [hash, salt] = hashPassword(password);
    const now = Math.floor(Date.now() / 1000);
    const [res] = await conn.query<ResultSetHeader>(
      'INSERT INTO IMUser (name, domain, nick, password, salt, departId, status, created, updated) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)',
      [name, name, [...nick].slice(0, MAX_NAME_CHARS).join(''), hash, salt, DEFAULT_DEPART_ID, now, now],
    );
    return res.insertId;
  } finally {
    await conn.end();
  }
}
