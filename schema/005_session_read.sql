-- 005_session_read: each user's read position per session, kept in MySQL.
--
-- Not a TeamTalk table. TeamTalk keeps unread counters in Redis only
-- (`unread_{uid}` hash field `{peerId}`; `{groupId}_im_group_msg` minus
-- `{uid}_{groupId}_im_user_group`), so a Redis that restarts empty loses them.
-- Here every CID_MSG_READ_ACK also moves the user's position in this table
-- (and joining a group sets it to the group's latest msg id), so db-proxy can
-- rebuild TeamTalk's counters from MySQL: unread = stored messages of the
-- session with msgId > msgId here (for a group, also above the user's own
-- latest message there). Positions only move forward.
--
-- type: 1 = one-to-one (peerId is the other user), 2 = group (peerId is the
-- group id), as IMRecentSession.type. A session without a row has read nothing.

CREATE TABLE IF NOT EXISTS `IMSessionRead` (
  `userId` int(11) unsigned NOT NULL,
  `peerId` int(11) unsigned NOT NULL,
  `type` tinyint(1) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`userId`, `peerId`, `type`),
  KEY `idx_peerId_type` (`peerId`, `type`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
