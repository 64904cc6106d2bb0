package medcard

// NewMemStore returns the in-memory Store and ReadAuditor of the unit tests
// to the tests of package medcard_test, which may import the cache adapter
// (package medcard itself must not).
func NewMemStore() interface {
	Store
	ReadAuditor
} {
	return newMemStore()
}
