-- 003_recent_session_unique: one IMRecentSession row per
-- (userId, peerId, type).
--
-- Like relationships, TeamTalk creates session rows with a lookup followed by
-- an insert, so a busy database can hold duplicates. A session row carries no
-- data beyond its state and timestamps, so duplicates are merged here: the row
-- with the lowest id survives, shown (status 0) if any copy was shown, with
-- the earliest created and the latest updated time of the group.
--
-- type becomes NOT NULL (default 0, as before): a unique key does not treat
-- NULLs as equal, so a nullable column could not hold the invariant. TeamTalk
-- always writes a type; rows without one are given 0 first.
--
-- The unique key replaces the plain idx_userId_peerId_type on the same columns.

UPDATE `IMRecentSession` SET `type` = 0 WHERE `type` IS NULL;

UPDATE `IMRecentSession` AS s
  JOIN (
    SELECT MIN(`id`) AS keepId, MIN(`status`) AS st,
           MIN(`created`) AS cr, MAX(`updated`) AS up
      FROM `IMRecentSession`
     GROUP BY `userId`, `peerId`, `type`
    HAVING COUNT(*) > 1
  ) AS d ON s.`id` = d.keepId
   SET s.`status` = d.st, s.`created` = d.cr, s.`updated` = d.up;

DELETE s FROM `IMRecentSession` AS s
  JOIN (
    SELECT `userId`, `peerId`, `type`, MIN(`id`) AS keepId
      FROM `IMRecentSession`
     GROUP BY `userId`, `peerId`, `type`
    HAVING COUNT(*) > 1
  ) AS d ON s.`userId` = d.`userId` AND s.`peerId` = d.`peerId`
        AND s.`type` = d.`type` AND s.`id` <> d.keepId;

ALTER TABLE `IMRecentSession`
  MODIFY `type` tinyint(1) unsigned NOT NULL DEFAULT '0',
  DROP KEY `idx_userId_peerId_type`,
  ADD UNIQUE KEY `uk_userId_peerId_type` (`userId`, `peerId`, `type`);
