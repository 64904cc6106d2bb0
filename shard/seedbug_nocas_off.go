//go:build !seedbug_nocas

package shard

// seededBugCASCondition plants a bug for the robustness suite when the binary is built
// with the tag seedbug_nocas: the compare-and-set of an update is
// dropped, so a write computed from an old card overwrites a newer one. Never set in a shipped build (see
// internal/robustness).
const seededBugCASCondition = "version = $29"
