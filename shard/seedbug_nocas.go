//go:build seedbug_nocas

package shard

// seededBugCASCondition: see seedbug_nocas_off.go.
const seededBugCASCondition = "$29::bigint IS NOT NULL"
