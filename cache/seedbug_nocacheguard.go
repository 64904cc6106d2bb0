//go:build seedbug_nocacheguard

package cache

// See seedbug_off.go: store every card offered, whatever the entry holds.
const seededBugFill = `
redis.set_repl(redis.REPL_NONE)
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'c', ARGV[3], 'g', ARGV[5])
redis.call('HDEL', KEYS[1], 'l')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
do return 1 end
`

const seededBugWriteThrough = seededBugFill
