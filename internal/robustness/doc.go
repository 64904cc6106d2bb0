// Package robustness is a Jepsen/etcd-style robustness suite for the
// gateway: real `gateway serve` processes over real PostgreSQL and Redis,
// faults injected by nemeses, every client operation recorded in a
// History, and a judge that says whether the gateway kept its promises:
//
//  1. an acknowledged write is never lost;
//  2. a resend with the same MessageID is applied once (the stored first
//     answer is returned);
//  3. a read that starts after a write was acknowledged never returns an
//     older card, whichever gateway serves it, whatever Redis does.
//
// # Topology (cluster.go)
//
// testcluster starts PostgreSQL PG1 (catalog, shard1), PG2 (shard2) and
// Redis. Two gateways, A and B, run as processes of a binary built once
// per build tag; each reaches Redis through its own in-process toxiproxy
// proxy, and both reach each shard database through one proxy per
// database (the catalog's shard_databases rows hold the proxy DSNs). So
// does the shard mover, which reads its DSNs from the catalog, and so do
// its subscriptions: the target server connects to the source through
// the source's proxy. The catalog, migrations, the orphan check after the
// moves and the final read use direct connections. The class
// redis-failover runs its own gateways against a Sentinel-managed primary
// and replica.
//
// # Clients (client.go, requests.go)
//
// Writers send CreateDrugMedication with an explicit MessageID, based on
// the card version they last saw, adding a drug medication whose
// indication text is the operation's unique tag. On a timeout, a
// connection error or a retryable fault they resend the same request
// (same MessageID and body, a fresh WS-Security nonce) to the other
// gateway with backoff, at most 15 attempts in 20 s; the exchange is one
// Operation. About 5% of acknowledged writes are resent once more, to the
// other gateway, and must answer the same version (Operation.ResendVersion).
// Readers send GetMedicineCard to a random gateway. The clients work on
// about 20 hot persons; a person is retired after about 60 writes. After a
// run every person's card is read from the shard database that owns it.
//
// # Runs (run.go)
//
// Run starts the clients, lets the class's nemesis inject and heal its
// fault a third into the run (in an Ops run: again every few seconds until
// the operations are done), stops the clients, reads the final cards and
// judges.
//
// # Checkers (check.go, model.go)
//
// Set checks over the history and the final cards: lost (an acknowledged
// write not on the final card), duplicated (a tag twice), applied despite
// a definite fault, stale reads (older than a write acknowledged before the
// read began), version anomalies (two writes answering one version, a card
// whose tags do not count its version), resend answers (a resend answering
// another version), InternalError answers. Then porcupine checks that each
// person's operations are linearizable against a model of the card
// (version and tags in order); unknown writes are settled by the final
// card first, which keeps the search small without changing its answer.
// A class whose fault clients must not see at all (shard-move) also fails
// on any send that got no success answer, resends included
// (CheckClientFault); each such finding names the step of the shard's
// move it fell in, from the mover's journal (History.Moves). It also fails
// on a move no client operation on its shard was in flight for, from its
// freeze to a second after its flip (CheckMoveTraffic): such a run would
// show nothing. Every run counts its failed sends. Recovery time is, for the slowest fault cycle,
// the time from the heal until each gateway has acknowledged a write
// attempt sent to it after the heal (-1, "never", if one did not before
// the run ended). A failing run writes a report under
// robustness-results/<class>-<time>/ at the repository root:
// history.json, verdict.txt, porcupine.html when no order explains a
// person's operations, summary.txt, and logs/ with what each gateway's,
// PostgreSQL's and Redis's log got during the run.
//
// # Nemeses (nemesis.go, shardmove.go)
//
// See Classes and ClassDoc. The class shard-move runs the real online
// mover (shard/move: logical replication copy, catch-up, freeze, flip,
// journal) on the logical shards of 3 hot persons (kept hot until the
// moves are done), to the other shard database and back, with the limits of `gateway shard rebalance` but a
// fence wait of the gateways' fence lease, while gateway B's catalog link
// is 100 ms slow, so B hears of each flip late and routes by the old map
// for most of a second (what the shard fence is for); after each cycle it cleans up
// the moves' source rows and requires that nothing is left: no
// replication slot, publication or subscription, every shard owned by
// exactly the database the map names, no rows of a shard where it is not
// owned, no open move or live artefact in the journal. The seeded bug
// seedbug_nofence runs under it.
//
// TestRobustness runs each class for a few seconds, or for ROBUSTNESS_OPS
// operations (make robustness); TestSeededBugsAreCaught builds the gateway
// with each seedbug_* tag and requires the judge to fail the run that
// should expose it.
package robustness
