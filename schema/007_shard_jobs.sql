-- 007_shard_jobs: the work of `npm run shards` (moves and splits), so that a
-- killed run resumes where it stopped.
--
-- Not TeamTalk's. One row per job; at most one is unfinished (state other
-- than 'done' or 'aborted'). `spec` is the job as asked (JSON: the shard and
-- target of a move, the counts and placement of a split); `checkpoints` maps
-- each copy task (`<target table>@<target server>`) to the last source id
-- known settled and copied: a resumed run copies again from there (the copy
-- is idempotent: rows keep their ids). `map_version` is the version the job
-- planned against: a job whose map changed under it stops.

CREATE TABLE IF NOT EXISTS `shard_jobs` (
  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
  `kind` varchar(16) NOT NULL,
  `spec` text NOT NULL,
  `state` varchar(16) NOT NULL,
  `checkpoints` mediumtext NOT NULL,
  `map_version` int(11) unsigned NOT NULL,
  `message` varchar(1024) NOT NULL DEFAULT '',
  `created_at` datetime(3) NOT NULL DEFAULT current_timestamp(3),
  `updated_at` datetime(3) NOT NULL DEFAULT current_timestamp(3) ON UPDATE current_timestamp(3),
  PRIMARY KEY (`id`),
  KEY `idx_state` (`state`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
