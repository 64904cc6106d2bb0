package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/seed"
)

// BenchmarkGetMedicineCard reads the seeded cards over HTTP (keep-alive)
// through three gateways over the same shard databases:
//
//	cache=hot   the cache on, Redis up, every card cached
//	cache=off   every read from PostgreSQL (with its own audit row)
//	redis=down  the cache on, but nothing listens at the Redis address:
//	            the breaker is open and every read goes to PostgreSQL
//
// Besides ns/op it reports the median and 99th percentile latency of one
// request in microseconds. Run it with
//
//	go test -run '^$' -bench BenchmarkGetMedicineCard -benchtime 3s ./cmd/gateway
func BenchmarkGetMedicineCard(b *testing.B) {
	if env == nil {
		b.Skip("no PostgreSQL/Redis on this machine (CI=true makes this a failure)")
	}
	gen := seed.New(demoSeed, time.Now())
	persons := make([]string, seededPersons)
	for i := range persons {
		persons[i] = notePerson(string(gen.Person(i)))
	}
	down := closedPort(b)
	client := newLoadClient(b)
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 1024
	for _, bc := range []struct {
		name      string
		redisAddr string
		cache     bool
	}{
		{"cache=hot", env.cluster.Redis.Addr, true},
		{"cache=off", env.cluster.Redis.Addr, false},
		{"redis=down", down, true},
	} {
		gw := startGateway(b, func(endpoint string) app.Config {
			cfg := env.config(endpoint, bc.redisAddr)
			cfg.Cache = bc.cache
			return cfg
		})
		// Fill the cache (or open the breaker), and check every card reads.
		for _, p := range persons {
			if _, err := readVersion(client, gw.endpoint, p); err != nil {
				b.Fatalf("%s: warm-up read: %v", bc.name, err)
			}
		}
		b.Run(bc.name, func(b *testing.B) {
			var next atomic.Int64
			var mu sync.Mutex
			var took []time.Duration
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				mine := make([]time.Duration, 0, 1024)
				for pb.Next() {
					p := persons[int(next.Add(1))%len(persons)]
					start := time.Now()
					if err := benchRead(client, gw.endpoint, p); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				took = append(took, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			if len(took) > 0 {
				slices.Sort(took)
				b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}

// benchRead sends one GetMedicineCard and checks that it was answered with
// a card, without decoding it (the client shares the CPUs with the server).
func benchRead(client *http.Client, endpoint, person string) error {
	var resp soapclient.Response
	if err := soapclient.New(endpoint, client).Do(context.Background(), call{body: getCardBody(person)}.request(), &resp); err != nil {
		return err
	}
	if resp.Status != http.StatusOK || !bytes.Contains(resp.Body, []byte("GetMedicineCardResponse")) {
		return fmt.Errorf("GetMedicineCard answered status %d, fault %s", resp.Status, faultIDOf(&resp))
	}
	return nil
}

// closedPort returns a loopback address where nothing listens.
func closedPort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
