//go:build !seedbug_noidempotency

package shard

// seededBugOutcomeFilter plants a bug for the robustness suite when the binary is built
// with the tag seedbug_noidempotency: no write stores its outcome, so a
// resend is applied again. Never set in a shipped build (see
// internal/robustness).
const seededBugOutcomeFilter = ""
