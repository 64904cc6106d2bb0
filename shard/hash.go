package shard

import (
	"crypto/sha256"
	"encoding/binary"
)

// Count is the number of logical shards. It is a power of two so that a
// shard is a mask of the hash, and it is fixed for the life of a cluster.
// The shard databases' shard_of() function hard-codes the same mask.
const Count = 1024

// Of returns the logical shard of a person identifier: the first eight bytes
// of SHA-256 of its ASCII digits, read big-endian, masked to the low ten
// bits. See doc.go for why and for the same computation in SQL.
func Of(person string) int {
	sum := sha256.Sum256([]byte(person))
	return int(binary.BigEndian.Uint64(sum[:8]) & (Count - 1))
}
