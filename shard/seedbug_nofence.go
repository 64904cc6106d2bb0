//go:build seedbug_nofence

package shard

// seededBugNoFence: see seedbug_nofence_off.go.
const seededBugNoFence = true
