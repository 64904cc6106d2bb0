//go:build !seedbug_nofence

package shard

// seededBugNoFence plants a bug for the robustness suite when the binary is built
// with the tag seedbug_nofence: the shard fence is off: connections
// disable the fence triggers and reads do not check ownership, so a gateway
// with a stale shard map writes to a database that gave the shard away. Never set in a shipped build (see
// internal/robustness).
const seededBugNoFence = false
