-- Version 7: transfers are found by the peer's process id too, so that a
-- retried initial TransferRequestMessage (same consumer, same consumerPid)
-- gets the transfer it already started instead of a second one.
CREATE INDEX transfers_peer ON transfers(peer_pid);
