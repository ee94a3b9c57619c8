-- Template of one shard of the group message store. schema/migrate.ts
-- replaces {{N}} with 0 .. shards-1; a message lives in
-- IMGroupMessage_<groupId % shards>.
--
-- Columns and secondary indexes follow TeamTalk. Added: uk_groupId_msgId, so
-- a msgId is used at most once per group. Shard tables that already exist
-- without it get it added by the migrator.
-- type holds the protocol's MsgType (0x11 group text, 0x12 group audio);
-- the default of 2 is kept from TeamTalk for compatibility.
CREATE TABLE IF NOT EXISTS `IMGroupMessage_{{N}}` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) NOT NULL DEFAULT '',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '2',
  `status` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_groupId_msgId` (`groupId`, `msgId`),
  KEY `idx_groupId_status_created` (`groupId`, `status`, `created`),
  KEY `idx_groupId_msgId_status_created` (`groupId`, `msgId`, `status`, `created`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
