//go:build !seedbug_nocacheguard

package cache

// seededBugFill and seededBugWriteThrough plant a bug for the robustness
// suite when the binary is built with the tag seedbug_nocacheguard: Lua
// prepended to the fill and write-through scripts that stores the card
// unconditionally, without the lease and version guards. Empty in a
// shipped build (see internal/robustness).
const (
	seededBugFill         = ""
	seededBugWriteThrough = ""
)
