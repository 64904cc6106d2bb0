//go:build seedbug_noidempotency

package shard

// seededBugOutcomeFilter: see seedbug_noidempotency_off.go.
const seededBugOutcomeFilter = " WHERE false"
