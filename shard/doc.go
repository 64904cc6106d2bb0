// Package shard stores medicine cards in hash-sharded PostgreSQL: it hashes
// persons to logical shards, keeps the map from logical shards to databases,
// routes each request to the database that owns its shard, and implements
// medcard.Store there.
//
// # Hashing
//
// A person's logical shard is
//
//	shard = uint64_be(sha256(cpr)[0:8]) & (Count-1)     // Count = 1024
//
// where cpr is the ten ASCII digits of the CPR number. SHA-256 was chosen
// over a faster non-cryptographic hash because it is the same in every
// language and in PostgreSQL itself, so an operator can compute a shard in
// psql, and because CPR numbers are dense and structured (birth date first)
// and a weak hash of them clusters. It costs about 200 ns, which is nothing
// next to a database round trip. The shard databases define the same
// function (migrations/shard), and a CHECK constraint refuses a row whose
// shard column disagrees with it:
//
//	SELECT shard_of('0101701234');
//	-- = (('x' || substr(encode(sha256(convert_to(cpr, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint & 1023)
//
// The golden vectors in hash_test.go pin the function; changing it would
// strand every stored card on the wrong shard, so it never changes.
//
// # The map
//
// The catalog database holds the shard map: for each logical shard, the
// database that owns it, and a cluster epoch that is bumped whenever the map
// changes. Gateways load the map at start and then follow it (Store.Watch):
// the catalog announces every new epoch on channel shard_map (LISTEN/NOTIFY),
// and a gateway reloads the map as soon as it hears one; it also polls the
// epoch, so a lost notification or connection costs at most one poll
// interval. The map is only advice: each shard database keeps its own list
// of the shards it owns (table owned_shards), and triggers on every table
// refuse a write for a shard the database does not own (SQLSTATE MC001) or
// has frozen for a move (MC002). A gateway with a stale map therefore cannot
// write to the old place: it gets MC001, reloads the map and retries.
package shard
