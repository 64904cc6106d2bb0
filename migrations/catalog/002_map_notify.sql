-- Map changes reach gateways promptly: when the cluster epoch changes, the
-- catalog notifies channel shard_map with the new epoch as the payload.
-- Gateways LISTEN on it (shard.Store.Watch) and reload the map at once;
-- they still poll the epoch, so a lost notification or connection costs at
-- most one poll interval. The notification is sent at commit, so a gateway
-- that reloads on it sees the new map.

CREATE FUNCTION notify_shard_map() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('shard_map', NEW.epoch::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER cluster_epoch_notify
    AFTER UPDATE OF epoch ON cluster
    FOR EACH ROW
    WHEN (OLD.epoch IS DISTINCT FROM NEW.epoch)
    EXECUTE FUNCTION notify_shard_map();
