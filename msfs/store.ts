/**
 * The files on disk: root/<first>/<second>/<name> for stored files, and
 * root/.tmp/ for files being received. A file appears under its name only by
 * rename(2) of a complete, fsync'd temporary file, so a reader never sees a
 * partial one; leftovers in .tmp (a crash mid-upload) are removed at start.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoredName } from './layout.ts';
import { TempFile } from './temp-file.ts';

export class FileStore {
  readonly root: string;
  private readonly tmpDir: string;
  private readonly madeDirs = new Set<string>();

  constructor(root: string) {
    this.root = root;
    this.tmpDir = join(root, '.tmp');
  }

  /** Creates root and .tmp; removes what an earlier run left in .tmp. Returns how many were removed. */
  async init(): Promise<number> {
    await mkdir(this.tmpDir, { recursive: true });
    const stale = await readdir(this.tmpDir);
    await Promise.all(stale.map((f) => rm(join(this.tmpDir, f), { force: true, recursive: true })));
    return stale.length;
  }

  /** A new temporary file in .tmp. */
  createTemp(): TempFile {
    return new TempFile(join(this.tmpDir, `${randomBytes(12).toString('hex')}.part`));
  }

  /**
   * Publishes a finished (fsync'd) temporary file under `name`, then syncs
   * the directory so that the name survives a power loss once the client
   * has been given it.
   */
  async publish(temp: TempFile, name: StoredName): Promise<void> {
    const dir = join(this.root, name.first, name.second);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    await rename(temp.path, join(dir, name.name));
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  /** Opens a stored file for reading; undefined when it does not exist or is not a regular file. */
  async open(first: string, second: string, name: string): Promise<{ fh: FileHandle; size: number; mtimeMs: number } | undefined> {
    let fh: FileHandle;
    try {
      fh = await open(join(this.root, first, second, name), 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        await fh.close();
        return undefined;
      }
      return { fh, size: st.size, mtimeMs: st.mtimeMs };
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}
