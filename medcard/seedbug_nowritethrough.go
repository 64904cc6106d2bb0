//go:build seedbug_nowritethrough

package medcard

// seededBugSkipWriteThrough: see seedbug_off.go.
const seededBugSkipWriteThrough = true
