-- 002_relationship_unique: one IMRelationShip row per pair of users.
--
-- TeamTalk looks a pair up and inserts when nothing is found, without a key
-- to stop two concurrent first messages from creating two rows. The row id is
-- the relateId that picks the IMMessage shard and keys the unread counters,
-- so a second row for the same pair splits that conversation in two.
--
-- Existing duplicates are NOT merged here: each duplicate id may already own
-- messages in IMMessage_<id % shards>, and merging means moving those rows to
-- the surviving id (its shard may differ, msgIds may collide) and fixing the
-- Redis counters. If this migration stops with a duplicate-key error, list the
-- affected pairs with
--
--   SELECT smallId, bigId, GROUP_CONCAT(id ORDER BY id) AS ids
--     FROM IMRelationShip GROUP BY smallId, bigId HAVING COUNT(*) > 1;
--
-- keep the lowest id of each pair (the one TeamTalk itself reuses first),
-- move or drop the other ids' messages, delete the other rows, and run the
-- migration again.

ALTER TABLE `IMRelationShip`
  ADD UNIQUE KEY `uk_smallId_bigId` (`smallId`, `bigId`);
