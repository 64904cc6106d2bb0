//go:build !seedbug_nowritethrough

package medcard

// seededBugSkipWriteThrough plants a bug for the robustness suite when the
// binary is built with the tag seedbug_nowritethrough: committed cards are
// neither written through to the cache nor fenced. Never set in a shipped
// build (see internal/robustness).
const seededBugSkipWriteThrough = false
