// Package move moves logical shards between shard databases online, while
// gateways keep reading and writing them: plans, the mover, the journal,
// verification and cleanup behind `gateway shard plan | rebalance | move |
// moves | verify | cancel | cleanup | add-db | remove-db`.
//
// # A move
//
// One logical shard S goes from a source database to a target. Each step
// is recorded in the catalog (table moves, with move_steps and
// move_artefacts) before it is carried out and is safe to run again, so a
// mover killed at any point is run again and resumes, or is cancelled,
// with nothing orphaned:
//
//	pending      journaled by StartPlan, nothing done yet
//	prepare      register the artefacts (publication and slot at the
//	             source, subscription at the target, all named mcmove_<id>)
//	             before any exists; delete leftovers of S at the target;
//	             CREATE PUBLICATION ... WHERE (shard = S) at the source
//	copy         the slot, over a replication connection, exporting its
//	             snapshot; one COPY per table of S's rows (cards, write
//	             outcomes, audit rows, open orders) at that snapshot into
//	             the target, in one transaction, while the source keeps
//	             serving; then CREATE SUBSCRIPTION (copy_data = false) at
//	             the target, which streams every later change from the
//	             slot
//	catch-up     the pre-flight gate: a barrier row written at the source
//	             must reach the target within Limits.MaxLag
//	freeze       one statement at the source freezes S's writes (until
//	             the mover lifts the freeze or the flip releases S), raises
//	             S's cache fence and writes a barrier; the target owns S in
//	             the statement that finds the barrier there, when every
//	             write the source took is there too; a freeze that overruns
//	             Limits.FreezeBound or fails is lifted by the mover, and
//	             tried again after a catch-up; a freeze left by a killed
//	             mover is lifted and made again when the move resumes
//	flip         the target owns S; the catalog maps S to it under a new
//	             epoch (gateways hear at once, LISTEN/NOTIFY); the source
//	             gives S up, so a gateway with a stale map is refused there
//	             (MC001), reloads and retries at the target
//	unsubscribe  a last barrier (audit rows of reads taken at the source
//	             until the release), then drop subscription, slot and
//	             publication
//	verify       every row of S at the source is at the target, no card
//	             older there
//	done         the source's rows stay until `gateway shard cleanup`
//	             (after a grace period) deletes them
//
// # The fence
//
// Writes and the freeze serialise inside the source database: every
// write's trigger takes S's owned_shards row FOR SHARE, and the freeze
// updates that row, so it waits for the writes in flight, and those that
// come after it see the shard frozen (migrations/shard/004_online_moves.sql).
// No write that began before a freeze commits after the barrier. The
// audit rows of reads, which go on during a freeze, take the row only FOR
// KEY SHARE: the freeze does not wait for them, the release (the row's
// DELETE) does (migrations/shard/005_audit_fence_key_share.sql).
//
// # Why logical replication
//
// The copy and the catch-up are PostgreSQL's: a publication with a row
// filter per shard (PostgreSQL 15) and a subscription, as Citus moves
// shards. It copies consistently with the slot, keeps order, retries, and
// costs no trigger or change table on the write path. It needs
// wal_level = logical on every shard database (add-db checks), a slot per
// move (max_replication_slots) and workers (max_logical_replication_workers).
package move
