-- 004_audio_data: voice message bytes kept in MySQL.
--
-- A voice message row (type 2 single, 18 group) holds the decimal id of an
-- IMAudio row in `content`, as TeamTalk does. TeamTalk keeps the bytes on its
-- file server (msfs) and only their URL in `path`; we run no file server, so
-- the bytes go into `data` and `path` stays ''. TeamTalk's columns are kept:
-- rows written by TeamTalk (a path, no data) still read, as far as they can
-- without the file server (duration only; see db-proxy/handlers/message-audio.ts).
--
-- MEDIUMBLOB holds up to 16 MiB - 1, above the 5 MiB a voice message may have.

ALTER TABLE `IMAudio`
  ADD COLUMN `data` mediumblob NULL DEFAULT NULL AFTER `duration`;
