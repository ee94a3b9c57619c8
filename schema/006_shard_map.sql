-- 006_shard_map: the shard map as data, and the write freezes that change it.
--
-- Not TeamTalk's. `shard_map` holds every version of the map (which MySQL
-- server holds which IMMessage_k / IMGroupMessage_k); the highest version is
-- in force. The first db-proxy to start seeds version 1 from SHARDS and
-- SHARD_MAP; from then on only `npm run shards` changes it, and every
-- db-proxy follows without a restart. `servers` is SHARD_MAP's text form
-- (`4-7=mysql://b/db`; shards it does not name are on MYSQL_URL's server,
-- empty when all are): it holds the servers' credentials, as TeamTalk's
-- config files do.
--
-- A change goes through `shard_freeze`: the tool asks for a freeze of the
-- shards it moves (state 'freezing', bounded by expires_at); each live
-- db-proxy holds new writes to them, waits for the ones in flight, and
-- records the freeze id in `db_proxy_instances.frozen_id`. With every live
-- db-proxy frozen the tool copies the last rows and, in one transaction,
-- adds the new map version and sets the state to 'flipped'; or it sets
-- 'released' (nothing changed). A db-proxy that finds its freeze past
-- expires_at and still 'freezing' sets 'expired' (the tool can then no
-- longer flip) and writes on with the old map. `db_proxy_instances` is each
-- running db-proxy's heartbeat (seen_at, the map version it applied): one
-- not seen lately is gone, and it holds every write until it can read the
-- map again.

CREATE TABLE IF NOT EXISTS `shard_map` (
  `version` int(11) unsigned NOT NULL,
  `shards` int(11) unsigned NOT NULL,
  `servers` text NOT NULL,
  `note` varchar(255) NOT NULL DEFAULT '',
  `created_at` datetime(3) NOT NULL DEFAULT current_timestamp(3),
  PRIMARY KEY (`version`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `shard_freeze` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `shards` varchar(8192) NOT NULL,
  `map_version` int(11) unsigned NOT NULL,
  `state` varchar(16) NOT NULL,
  `expires_at` datetime(3) NOT NULL,
  `created_at` datetime(3) NOT NULL DEFAULT current_timestamp(3),
  `ended_at` datetime(3) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_state` (`state`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `db_proxy_instances` (
  `id` varchar(96) NOT NULL,
  `map_version` int(11) unsigned NOT NULL DEFAULT '0',
  `frozen_id` int(11) unsigned NOT NULL DEFAULT '0',
  `started_at` datetime(3) NOT NULL DEFAULT current_timestamp(3),
  `seen_at` datetime(3) NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
