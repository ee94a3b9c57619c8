import { Cid } from '../../proto/commands.ts';
import type { IM } from '../../proto/messages.ts';
import type { Handler } from './types.ts';

type HasOfflineReq = IM.File.IIMFileHasOfflineReq;
type AddOfflineReq = IM.File.IIMFileAddOfflineReq;
type DelOfflineReq = IM.File.IIMFileDelOfflineReq;

/** IMTransmitFile column sizes: longer values cannot be stored. */
const MAX_FILE_NAME = 255;
const MAX_TASK_ID = 64;
/** Offline files listed per receiver, oldest first. */
const MAX_LISTED = 1000;

interface FileRow {
  toId: number;
  fromId: number;
  taskId: string;
  fileName: string;
  size: number;
}

/**
 * CID_FILE_HAS_OFFLINE_REQ: the offline files waiting for each user (status
 * 0, oldest first), one query for the batch. ip_addr_list stays empty: the
 * msg server adds its file servers.
 */
export const hasOffline: Handler<HasOfflineReq> = {
  commandId: Cid.CID_FILE_HAS_OFFLINE_REQ,
  fail: (req) => ({ commandId: Cid.CID_FILE_HAS_OFFLINE_RES, message: { userId: req.userId ?? 0, offlineFileList: [], ipAddrList: [] } }),
  async run(ctx, reqs) {
    const users = [...new Set(reqs.map((r) => r.userId!))];
    if (users.length === 0) return [];
    const rows = await ctx.mysql.query<FileRow[]>(
      ctx.mysql.main,
      'SELECT toId, fromId, taskId, fileName, size FROM IMTransmitFile WHERE toId IN (?) AND status = 0 ORDER BY created, id',
      [users],
    );
    const byUser = new Map<number, IM.BaseDefine.IOfflineFileInfo[]>();
    for (const r of rows) {
      let list = byUser.get(r.toId);
      if (!list) byUser.set(r.toId, (list = []));
      if (list.length < MAX_LISTED) list.push({ fromUserId: r.fromId, taskId: r.taskId, fileName: r.fileName, fileSize: r.size });
    }
    return reqs.map((r) => ({
      commandId: Cid.CID_FILE_HAS_OFFLINE_RES,
      message: { userId: r.userId, offlineFileList: byUser.get(r.userId!) ?? [], ipAddrList: [] },
    }));
  },
};

/**
 * CID_FILE_ADD_OFFLINE_REQ: records an uploaded offline file for its
 * receiver, one multi-row INSERT per batch. The protocol has no answer.
 */
export const addOffline: Handler<AddOfflineReq> = {
  commandId: Cid.CID_FILE_ADD_OFFLINE_REQ,
  fail: () => null,
  async run(ctx, reqs) {
    const ok = reqs.filter((r) => [...(r.fileName ?? '')].length <= MAX_FILE_NAME && [...(r.taskId ?? '')].length <= MAX_TASK_ID);
    if (ok.length < reqs.length) ctx.log.warn({ refused: reqs.length - ok.length }, 'offline file with an oversized name or task id not recorded');
    if (ok.length > 0) {
      const now = ctx.now();
      await ctx.mysql.query(
        ctx.mysql.main,
        `INSERT INTO IMTransmitFile (fromId, toId, fileName, size, taskId, status, created, updated) VALUES ${ok.map(() => '(?, ?, ?, ?, ?, 0, ?, ?)').join(', ')}`,
        ok.flatMap((r) => [r.fromUserId, r.toUserId, r.fileName, r.fileSize, r.taskId, now, now]),
      );
    }
    return reqs.map(() => null);
  },
};

/**
 * CID_FILE_DEL_OFFLINE_REQ: the receiver has the file; its rows (sender,
 * receiver and task id must all match) are deleted. No answer.
 */
export const delOffline: Handler<DelOfflineReq> = {
  commandId: Cid.CID_FILE_DEL_OFFLINE_REQ,
  fail: () => null,
  async run(ctx, reqs) {
    if (reqs.length === 0) return [];
    await ctx.mysql.query(
      ctx.mysql.main,
      `DELETE FROM IMTransmitFile WHERE (fromId, toId, taskId) IN (${reqs.map(() => '(?, ?, ?)').join(', ')})`,
      reqs.flatMap((r) => [r.fromUserId, r.toUserId, r.taskId]),
    );
    return reqs.map(() => null);
  },
};

export const handlers: Handler<never>[] = [hasOffline, addOffline, delOffline] as Handler<never>[];
