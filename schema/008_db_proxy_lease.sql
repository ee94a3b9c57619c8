-- 008_db_proxy_lease: what a shard map change must know of each db-proxy.
--
-- lease_ms: how long the db-proxy goes on writing after its last successful
-- read of the shard map (DB_PROXY_MAP_LEASE_MS); a tool counts it as live
-- until that long (and a margin) after it was last seen, whatever the
-- tool's own --live-ms. txn_ms: the longest one of its insert transactions
-- can take before it is cut (client bound plus server bound); a copy's
-- settled checkpoint waits at least that long.

ALTER TABLE `db_proxy_instances`
  ADD COLUMN IF NOT EXISTS `lease_ms` int(11) unsigned NOT NULL DEFAULT '3000',
  ADD COLUMN IF NOT EXISTS `txn_ms` int(11) unsigned NOT NULL DEFAULT '1000';
