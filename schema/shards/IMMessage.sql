-- Template of one shard of the one-to-one message store. schema/migrate.ts
-- replaces {{N}} with 0 .. shards-1; a message lives in
-- IMMessage_<relateId % shards>, relateId being the IMRelationShip id.
--
-- Columns and secondary indexes follow TeamTalk. Added: uk_relateId_msgId,
-- so a msgId is used at most once per conversation (retried writes become
-- duplicate-key errors instead of duplicate messages). Shard tables that
-- already exist without it get it added by the migrator.
-- type holds the protocol's MsgType (0x01 text, 0x02 audio).
-- status: 0 = normal, 1 = deleted.
CREATE TABLE IF NOT EXISTS `IMMessage_{{N}}` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `relateId` int(11) unsigned NOT NULL,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL,
  `content` varchar(4096) DEFAULT '',
  `type` tinyint(2) unsigned NOT NULL DEFAULT '1',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL,
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_relateId_msgId` (`relateId`, `msgId`),
  KEY `idx_relateId_status_created` (`relateId`, `status`, `created`),
  KEY `idx_relateId_status_msgId_created` (`relateId`, `status`, `msgId`, `created`),
  KEY `idx_fromId_toId_created` (`fromId`, `toId`, `status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
