-- Cache fences (see medcard.CacheFence and shard/fence.go). When a write
-- cannot reach Redis in time, its gateway raises the fence generation of
-- the card's logical shard here, and every gateway stops serving that
-- shard's cached cards entered under an older generation. Gateways poll
-- cache_fence_total (one row) every few milliseconds and read
-- cache_fences only when it changed.
--
-- A raise updates the total and the shard's row in one statement: the
-- total's row lock orders raises, so a total a poller read is never
-- followed by the commit of a raise with a lower one.
CREATE TABLE cache_fence_total (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    total    bigint  NOT NULL
);
INSERT INTO cache_fence_total (total) VALUES (0);

CREATE TABLE cache_fences (
    shard      integer PRIMARY KEY CHECK (shard >= 0),
    generation bigint  NOT NULL
);
