package medcard

import "context"

// RequestLog collects facts that adapters learn while serving one request
// and that the edge logs once when it answers: which logical shard and
// database served it, and whether an emergency override looked past the
// citizen's restriction. It holds no personal data.
type RequestLog struct {
	Shard    int // -1 until a store routed the request
	Database string
	// RestrictionOverridden: the service showed a restricted card because
	// the call asked for an emergency override (checkRestriction).
	RestrictionOverridden bool
}

type requestLogKey struct{}

// WithRequestLog returns a context carrying a fresh RequestLog.
func WithRequestLog(ctx context.Context) (context.Context, *RequestLog) {
	l := &RequestLog{Shard: -1}
	return context.WithValue(ctx, requestLogKey{}, l), l
}

// NoteShard records the shard and database that served the request, if the
// context carries a RequestLog.
func NoteShard(ctx context.Context, shard int, database string) {
	if l, ok := ctx.Value(requestLogKey{}).(*RequestLog); ok {
		l.Shard, l.Database = shard, database
	}
}

// NoteOverride records that an emergency override looked past the
// citizen's restriction, if the context carries a RequestLog.
func NoteOverride(ctx context.Context) {
	if l, ok := ctx.Value(requestLogKey{}).(*RequestLog); ok {
		l.RestrictionOverridden = true
	}
}
