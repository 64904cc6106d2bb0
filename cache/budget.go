package cache

import (
	"context"
	"errors"
	"time"
)

// budgetKey carries a request's Redis budget: the moment by which all of
// its Redis calls together must be done.
type budgetKey struct{}

// errBudgetSpent is a call that was not made because the request had spent
// its Redis budget on earlier calls.
var errBudgetSpent = errors.New("cache: the request's Redis budget is spent")

// WithBudget returns a context in which every Redis call of the card cache,
// together, waits at most d: a slow Redis then costs a request one cache
// timeout, not one per call. Set it at the edge, once per request. The
// nonce check is not bound by it (Nonces.inRedis): it runs alongside the
// card's calls under a timeout of its own.
func WithBudget(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, budgetKey{}, time.Now().Add(d))
}

// callContext bounds one Redis call by timeout and by the request's budget.
func callContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc, error) {
	deadline := time.Now().Add(timeout)
	if budget, ok := ctx.Value(budgetKey{}).(time.Time); ok && budget.Before(deadline) {
		if !time.Now().Before(budget) {
			return nil, nil, errBudgetSpent
		}
		deadline = budget
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	return ctx, cancel, nil
}
