/**
 * Names and paths, in TeamTalk's layout: a file's path is
 * `g0/<first>/<second>/<time>_<unique>[_<W>x<H>].<ext>` (first and second
 * are 000..255), and it lives at root/<first>/<second>/<name> (the group
 * `g0` is not a directory, as under TeamTalk's BaseDir, so an existing
 * TeamTalk BaseDir can serve as MSFS_ROOT). TeamTalk spreads files over the
 * directories by a running count and names them by time and thread id; we
 * pick the directories and the unique part at random, so names cannot be
 * guessed.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { UploadCode, type UploadCodeValue } from './answer.ts';
import { kindByExtension, type FileKind } from './file-types.ts';

export const GROUP = 'g0';
const DIR_MAX = 255;

export interface StoredName {
  /** `g0/012/201/<name>`: what the upload answer's `path` says and a download asks for. */
  path: string;
  first: string;
  second: string;
  name: string;
}

const dir = (n: number): string => String(n).padStart(3, '0');

/** A new, unguessable name for a file of extension `ext`, with the `_WxH` suffix when given. */
export function newStoredName(ext: string, sizeSuffix = ''): StoredName {
  const first = dir(randomInt(DIR_MAX + 1));
  const second = dir(randomInt(DIR_MAX + 1));
  const micros = `${Date.now()}${String(randomInt(1000)).padStart(3, '0')}`;
  const name = `${micros}_${randomBytes(16).toString('hex')}${sizeSuffix}.${ext}`;
  return { path: `${GROUP}/${first}/${second}/${name}`, first, second, name };
}

/**
 * The `_WxH` suffix TeamTalk keeps from a client's filename: after the last
 * '_', width and height of one to four digits each, then the extension.
 * The Windows client names uploads `photo.jpg_640x480.jpg`, iOS
 * `image.png_<w>x<h>.png`. Empty when the name has no such suffix.
 */
export function sizeSuffixOf(filename: string): string {
  const m = /_(\d{1,4})x(\d{1,4})\.[^._]*$/.exec(filename);
  return m ? `_${Number(m[1])}x${Number(m[2])}` : '';
}

const MAX_FILENAME_BYTES = 255;
const MAX_EXT_CHARS = 15;

export type FilenameCheck = { ok: true; ext: string; sizeSuffix: string } | { ok: false; code: UploadCodeValue };

/**
 * TeamTalk's checks of an upload's filename, in its order (over 255 bytes,
 * no extension, extension over 15 characters), then ours: the extension
 * names an allowed kind. `raw` is one character per byte; a path is cut to
 * its last component.
 */
export function checkFilename(raw: string, allowed: ReadonlyMap<string, FileKind>): FilenameCheck {
  const filename = raw.slice(Math.max(raw.lastIndexOf('/'), raw.lastIndexOf('\\')) + 1);
  if (filename.length > MAX_FILENAME_BYTES) return { ok: false, code: UploadCode.NAME_TOO_LONG };
  const dot = filename.lastIndexOf('.');
  if (dot === -1) return { ok: false, code: UploadCode.NO_EXT };
  const ext = filename.slice(dot + 1);
  if (ext.length > MAX_EXT_CHARS) return { ok: false, code: UploadCode.EXT_TOO_LONG };
  const kind = kindByExtension(ext);
  if (!kind || !allowed.has(kind.ext)) return { ok: false, code: UploadCode.BAD_TYPE };
  return { ok: true, ext, sizeSuffix: sizeSuffixOf(filename) };
}

export type ParsedPath =
  | { ok: true; first: string; second: string; name: string; ext: string }
  | { ok: false; status: 400 | 404 };

/**
 * A stored name, ours or TeamTalk's: `<time>_<unique>[_<W>x<H>].<ext>`.
 * TeamTalk writes `<usec>_<thread id>` and keeps the client's extension
 * (up to 15 characters), so an existing BaseDir is served too.
 */
const NAME = /^\d{1,20}_[0-9A-Za-z]{1,32}(?:_\d{1,4}x\d{1,4})?\.([0-9A-Za-z]{1,15})$/;
/**
 * Size variants. The iOS and Mac clients ask for avatars with a size
 * appended to the stored URL (`…/<name>.png_100x100.jpg`, also `_200x200`,
 * `_310x310`), a convention of mogujie's image CDN; TeamTalk's msfs has no
 * such files and answers 404, so those avatars never show. We serve the
 * stored file itself, under its own type: the clients scale what they get.
 * We do not resize: that needs an image library (a native dependency) and
 * turns a small-file store into a CPU sink anyone can call.
 */
const SIZE_VARIANT = /_\d{1,4}x\d{1,4}\.jpg$/i;

/**
 * A download's request target, checked strictly: only `/g0/ddd/ddd/<name>`
 * with a name this layout produces (an optional query is ignored). 400 for
 * what no client sends (not origin-form, dot segments, percent-encoding,
 * backslashes, anything outside printable ASCII), 404 for anything else
 * outside the layout.
 */
export function parseDownloadPath(target: string): ParsedPath {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  if (!path.startsWith('/') || /\.\.|[%\\]|[^!-~]/.test(path)) return { ok: false, status: 400 };
  const parts = path.slice(1).split('/');
  if (parts.length !== 4 || parts[0] !== GROUP) return { ok: false, status: 404 };
  const [, first = '', second = '', rawName = ''] = parts;
  if (!isDir(first) || !isDir(second)) return { ok: false, status: 404 };
  const variant = SIZE_VARIANT.exec(rawName);
  const name = NAME.test(rawName) || !variant ? rawName : rawName.slice(0, variant.index);
  const m = NAME.exec(name);
  if (!m) return { ok: false, status: 404 };
  return { ok: true, first, second, name, ext: m[1] ?? '' };
}

function isDir(s: string): boolean {
  return /^\d{3}$/.test(s) && Number(s) <= DIR_MAX;
}
