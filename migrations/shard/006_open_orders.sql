-- The pharmacy's order inbox (web UI, and later GetNewOrders over SOAP):
-- one row per open or started order, written with its card, so a
-- pharmacy's inbox is an index range read of small rows, a page at a time,
-- instead of reading every card that holds one of its orders (at 1,000,000
-- persons a pharmacy holds about 1,000: 1.5 MB of cards per view).
--
-- shard.Store.WriteCard keeps a card's rows in the statement that writes
-- the card (upserting the orders open after the write, deleting the others),
-- LoadCards with the cards it loads; moves copy the table like the other
-- per-shard tables. The drug and package are the listing's, copied from
-- the order's prescription.
CREATE TABLE open_orders (
    shard            integer NOT NULL,
    person           text NOT NULL,
    order_id         bigint NOT NULL,
    pharmacy         text NOT NULL,
    status           text NOT NULL,
    created_at       timestamptz NOT NULL,
    drug_name        text NOT NULL,
    drug_strength    text NOT NULL,
    package_number   text NOT NULL,
    package_quantity integer NOT NULL,
    card_version     bigint NOT NULL,  -- the card version at which the order last changed
    acknowledged     boolean NOT NULL, -- the pharmacy has confirmed it has the order
    PRIMARY KEY (shard, person, order_id)
);
CREATE INDEX open_orders_pharmacy ON open_orders (pharmacy, created_at);

-- The cards' open orders so far (cards without "orders" are skipped by the
-- LIKE before any json is parsed).
INSERT INTO open_orders
SELECT c.shard, c.person, (o->>'id')::bigint, o->>'pharmacy', o->>'status', (o->'created'->>'at')::timestamptz,
       coalesce(p->'drug'->>'name', ''), coalesce(p->'drug'->>'strength', ''),
       coalesce(p->>'packageNumber', ''), coalesce((p->>'packageQuantity')::integer, 0),
       (o->>'cardVersion')::bigint, o->'acknowledged' IS NOT NULL
FROM cards c
CROSS JOIN LATERAL json_array_elements(c.card->'orders') o
LEFT JOIN LATERAL (
    SELECT rx FROM json_array_elements(c.card->'prescriptions') rx
    WHERE (rx->>'id')::bigint = (o->>'prescriptionId')::bigint
) x(p) ON true
WHERE c.card::text LIKE '%"orders"%' AND o->>'status' IN ('Open', 'InProgress');
