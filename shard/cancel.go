package shard

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CancelOnDeadline makes a pool end a statement whose context is done with
// a cancel request, and close the connection only if the server has not
// answered a second later. pgx's default closes it at once, which leaves a
// backend that waits for synchronous standbys waiting, its locks held,
// until they return. The catalog's pool uses it too.
//
// A connection that a cancel request was sent for is then closed before it
// is used again. The request reaches the server on a connection of its own
// (PostgreSQL 15 forks a process to read it), so on a busy server it can
// arrive after the statement it was meant for has ended and the
// connection's next statement has begun, and cancel that one instead. pgx
// waits 100 ms before reusing the connection, which is not enough on a
// saturated machine: in the rebalance of 2026-12-04 (make bench-rebalance,
// --parallel 2) a late cancel of a timed-out nonce cross-check ended
// another request's nonce check in the catalog, and that request was
// refused. jackc/pgx#2534 proposes draining instead; it is not released.
// Closing costs one new connection per cancelled statement, as pgx's
// default does.
func CancelOnDeadline(cfg *pgxpool.Config) {
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		h := &retireOnCancel{CancelRequestContextWatcherHandler: pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}}
		c.CustomData()[retireOnCancelKey] = h
		return h
	}
	// Checked when the connection is next acquired, not when it is
	// released: pgxpool runs AfterRelease in a goroutine of its own on
	// every release, and a late cancel request that reaches an idle
	// connection is ignored by the server.
	next := cfg.PrepareConn
	cfg.PrepareConn = func(ctx context.Context, c *pgx.Conn) (bool, error) {
		if h, ok := c.PgConn().CustomData()[retireOnCancelKey].(*retireOnCancel); ok && h.cancelled.Load() {
			return false, nil // the pool closes it and takes another
		}
		if next == nil {
			return true, nil
		}
		return next(ctx, c)
	}
}

// retireOnCancelKey is where a connection's retireOnCancel is kept in its
// CustomData.
const retireOnCancelKey = "medcard.retireOnCancel"

// retireOnCancel is pgx's cancel-request handler that also remembers that
// a cancel request was sent on the connection's behalf.
type retireOnCancel struct {
	pgconn.CancelRequestContextWatcherHandler
	cancelled atomic.Bool
}

func (h *retireOnCancel) HandleCancel(ctx context.Context) {
	h.cancelled.Store(true)
	h.CancelRequestContextWatcherHandler.HandleCancel(ctx)
}
