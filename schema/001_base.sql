-- 001_base: the TeamTalk tables that are not sharded.
--
-- Table names, column names, column types and secondary indexes follow the
-- TeamTalk server so that an existing TeamTalk database keeps working. Every
-- statement uses CREATE TABLE IF NOT EXISTS: pointed at a database created by
-- TeamTalk's own dump, this file changes nothing and later files take it
-- forward. All new tables are utf8mb4 with binary collation.
--
-- Times are unix seconds in unsigned int columns, as in TeamTalk.
-- The sharded message tables live in schema/shards/ and are created by
-- schema/migrate.ts for the configured shard count.

-- Accounts of the web admin console (password is an md5 hex digest).
CREATE TABLE IF NOT EXISTS `IMAdmin` (
  `id` mediumint(6) unsigned NOT NULL AUTO_INCREMENT,
  `uname` varchar(40) NOT NULL,
  `pwd` char(32) NOT NULL,
  `status` tinyint(2) unsigned NOT NULL DEFAULT '0',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Voice messages: the message row points here, the bytes live at `path`.
CREATE TABLE IF NOT EXISTS `IMAudio` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `path` varchar(255) DEFAULT '',
  `size` int(11) unsigned NOT NULL DEFAULT '0',
  `duration` int(11) unsigned NOT NULL DEFAULT '0',
  `created` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_fromId_toId` (`fromId`, `toId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Departments form a tree through parentId.
CREATE TABLE IF NOT EXISTS `IMDepart` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `departName` varchar(64) NOT NULL DEFAULT '',
  `priority` int(11) unsigned NOT NULL DEFAULT '0',
  `parentId` int(11) unsigned NOT NULL,
  `status` int(11) unsigned NOT NULL DEFAULT '0',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_departName` (`departName`),
  KEY `idx_priority_status` (`priority`, `status`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Entries of the client's "discover" tab.
CREATE TABLE IF NOT EXISTS `IMDiscovery` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `itemName` varchar(64) NOT NULL DEFAULT '',
  `itemUrl` varchar(64) NOT NULL DEFAULT '',
  `itemPriority` int(11) unsigned NOT NULL,
  `status` int(11) unsigned NOT NULL DEFAULT '0',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_itemName` (`itemName`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Groups. type: 1 = normal, 2 = temporary. status: 0 = live, 1 = deleted.
-- version is bumped on every membership change.
CREATE TABLE IF NOT EXISTS `IMGroup` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(256) NOT NULL DEFAULT '',
  `avatar` varchar(256) NOT NULL DEFAULT '',
  `creator` int(11) unsigned NOT NULL DEFAULT '0',
  `type` tinyint(3) unsigned NOT NULL DEFAULT '1',
  `userCnt` int(11) unsigned NOT NULL DEFAULT '0',
  `status` tinyint(3) unsigned NOT NULL DEFAULT '1',
  `version` int(11) unsigned NOT NULL DEFAULT '1',
  `lastChated` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  KEY `idx_name` (`name`(191)),
  KEY `idx_creator` (`creator`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Group membership. status: 0 = member, 1 = has left.
CREATE TABLE IF NOT EXISTS `IMGroupMember` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `status` tinyint(4) unsigned NOT NULL DEFAULT '1',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  KEY `idx_groupId_userId_status` (`groupId`, `userId`, `status`),
  KEY `idx_userId_status_updated` (`userId`, `status`, `updated`),
  KEY `idx_groupId_updated` (`groupId`, `updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A user's session list. type: 1 = one-to-one, 2 = group.
-- status: 0 = shown, 1 = removed by the user.
CREATE TABLE IF NOT EXISTS `IMRecentSession` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `userId` int(11) unsigned NOT NULL,
  `peerId` int(11) unsigned NOT NULL,
  `type` tinyint(1) unsigned DEFAULT '0',
  `status` tinyint(1) unsigned DEFAULT '0',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  KEY `idx_userId_peerId_status_updated` (`userId`, `peerId`, `status`, `updated`),
  KEY `idx_userId_peerId_type` (`userId`, `peerId`, `type`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One-to-one conversations. The row id is the relateId that picks the
-- IMMessage shard and keys the message counters. smallId < bigId.
CREATE TABLE IF NOT EXISTS `IMRelationShip` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `smallId` int(11) unsigned NOT NULL,
  `bigId` int(11) unsigned NOT NULL,
  `status` tinyint(1) unsigned DEFAULT '0',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  KEY `idx_smallId_bigId_status_updated` (`smallId`, `bigId`, `status`, `updated`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Users. sex: 0 = unknown, 1 = male, 2 = female. password holds
-- md5(<password as the client sends it> + salt), hex; the TeamTalk login only
-- admits rows with status 0.
CREATE TABLE IF NOT EXISTS `IMUser` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `sex` tinyint(1) unsigned NOT NULL DEFAULT '0',
  `name` varchar(32) NOT NULL DEFAULT '',
  `domain` varchar(32) NOT NULL DEFAULT '',
  `nick` varchar(32) NOT NULL DEFAULT '',
  `password` varchar(32) NOT NULL DEFAULT '',
  `salt` varchar(4) NOT NULL DEFAULT '',
  `phone` varchar(11) NOT NULL DEFAULT '',
  `email` varchar(64) NOT NULL DEFAULT '',
  `avatar` varchar(255) DEFAULT '',
  `departId` int(11) unsigned NOT NULL,
  `status` tinyint(2) unsigned DEFAULT '0',
  `created` int(11) unsigned NOT NULL,
  `updated` int(11) unsigned NOT NULL,
  `push_shield_status` tinyint(1) unsigned NOT NULL DEFAULT '0',
  `sign_info` varchar(128) NOT NULL DEFAULT '',
  PRIMARY KEY (`id`),
  KEY `idx_domain` (`domain`),
  KEY `idx_name` (`name`),
  KEY `idx_phone` (`phone`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Offline file transfers waiting for their receiver. The TeamTalk dump does
-- not ship this table; the columns are the ones its file model reads and
-- writes, the indexes serve its two lookups (by receiver, and by
-- sender + receiver + task when a transfer is finished).
CREATE TABLE IF NOT EXISTS `IMTransmitFile` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `fromId` int(11) unsigned NOT NULL,
  `toId` int(11) unsigned NOT NULL,
  `fileName` varchar(255) NOT NULL DEFAULT '',
  `size` int(11) unsigned NOT NULL DEFAULT '0',
  `taskId` varchar(64) NOT NULL DEFAULT '',
  `status` tinyint(1) unsigned NOT NULL DEFAULT '0',
  `created` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`id`),
  KEY `idx_toId_status_created` (`toId`, `status`, `created`),
  KEY `idx_fromId_toId_taskId` (`fromId`, `toId`, `taskId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
