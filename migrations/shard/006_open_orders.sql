-- The pharmacy's order inbox (web UI, and later GetNewOrders over SOAP):
-- every open or started order a pharmacy holds, across all cards of a
-- database, found by an index instead of reading every card.
--
-- open_orders is the set of pharmacies with an open or started order on
-- the card (NULL when none; most cards have none), written with the card
-- by the gateway (shard.Store.WriteCard, LoadCards). A column of its own,
-- not an expression index over the card: an index on the card's json would
-- make every card update non-HOT and parse the card twice per write; this
-- column changes only when an order opens or closes. The partial GIN index
-- holds only the cards with open orders.
--
-- The backfill reads every card once (cards without "orders" are skipped
-- by the LIKE before any json is parsed).
ALTER TABLE cards ADD COLUMN open_orders text[];

UPDATE cards SET open_orders = o.pharmacies
FROM (
    SELECT person, array_agg(DISTINCT ord->>'pharmacy' ORDER BY ord->>'pharmacy') AS pharmacies
    FROM cards, json_array_elements(card->'orders') AS ord
    WHERE card::text LIKE '%"orders"%' AND ord->>'status' IN ('Open', 'InProgress')
    GROUP BY person
) o
WHERE cards.person = o.person;

CREATE INDEX cards_open_orders ON cards USING gin (open_orders) WHERE open_orders IS NOT NULL;
