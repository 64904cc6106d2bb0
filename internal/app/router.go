package app

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/sharedmedcard/gateway/web"
)

// pinger is anything /readyz asks.
type pinger interface{ Ping(context.Context) error }

// newRouter mounts the SOAP endpoint, the web UI, the health checks and
// the metrics.
func newRouter(soapHandler, ui http.Handler, catalog, shards, replication pinger, metrics http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Handle(SOAPPath, soapHandler)
	r.Handle(web.Path, ui)
	r.Handle(web.Path+"/*", ui)
	r.Handle("/metrics", metrics)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var problems []string
		if err := catalog.Ping(ctx); err != nil {
			problems = append(problems, "catalog: unavailable")
		}
		if err := shards.Ping(ctx); err != nil {
			problems = append(problems, "shards: "+err.Error())
		} else if err := replication.Ping(ctx); err != nil {
			problems = append(problems, "standbys: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		if len(problems) > 0 {
			http.Error(w, "not ready: "+strings.Join(problems, "; "), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return r
}
