-- Cache fences (see medcard.CacheFence and shard/fence.go). When a write
-- cannot reach Redis in time, its gateway raises the fence generation of
-- the card's logical shard here, and every gateway stops serving that
-- shard's cached cards entered under an older generation. Gateways read
-- the whole table every few milliseconds: it has a row only for shards
-- ever fenced, at most one per logical shard, a few pages.
CREATE TABLE cache_fences (
    shard      integer PRIMARY KEY CHECK (shard >= 0),
    generation bigint  NOT NULL
);
