package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/medcard"
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

// BenchmarkCachedRead is the wrk scenario of scripts/bench.sh in process:
// the cached GetMedicineCard of a card of about the bench's average size
// (PasswordText, IncludePrescriptions), served by the gateway's handler
// with a real Redis hit and the look-up's audit row queued, without the
// HTTP server and client. Besides ns/op it reports the test process's CPU
// per request (cpu-µs/op: the handler, go-redis, the audit batcher), the
// figure the target is about. Profile it with
//
//	go test -run '^$' -bench CachedRead -benchtime 20000x -cpuprofile cpu.pprof ./cmd/gateway
func BenchmarkCachedRead(b *testing.B) {
	if env == nil {
		b.Skip("no PostgreSQL/Redis on this machine (CI=true makes this a failure)")
	}
	// The bench's average card is 6,892 bytes of JSON (docs/performance.md).
	gen := seed.New(demoSeed, time.Now())
	person, size := "", 0
	for i := benchPersons; i < seededPersons; i++ {
		body, err := medcard.EncodeCard(gen.Card(i))
		if err != nil {
			b.Fatal(err)
		}
		if person == "" || abs(len(body)-6892) < abs(size-6892) {
			person, size = notePerson(string(gen.Person(i))), len(body)
		}
	}
	gw := startGateway(b, func(endpoint string) app.Config {
		cfg := env.config(endpoint, env.cluster.Redis.Addr)
		cfg.TLSTerminatedUpstream = true // PasswordText without TLS, as bench.sh runs it
		// Production's JSON lines, written nowhere: the test's log buffer
		// would grow by every request.
		cfg.Log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
		return cfg
	})
	envelope := []byte(`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:mc="http://sharedmedcard.example/2026/01/medcard" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><soap:Header><wsse:Security><wsse:UsernameToken><wsse:Username>demo-gp</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">demo-secret</wsse:Password></wsse:UsernameToken></wsse:Security><mc:MessageHeader><mc:MessageID>bench-wrk</mc:MessageID></mc:MessageHeader><mc:WhitelistingHeader><mc:SystemName>demo-gp</mc:SystemName><mc:OrganisationIdentifier>SOR:483711000016009</mc:OrganisationIdentifier><mc:RequestedRole>Doctor</mc:RequestedRole></mc:WhitelistingHeader></soap:Header><soap:Body><mc:GetMedicineCardRequest><mc:PersonIdentifier>` +
		person + `</mc:PersonIdentifier><mc:IncludePrescriptions>true</mc:IncludePrescriptions></mc:GetMedicineCardRequest></soap:Body></soap:Envelope>`)
	h := gw.gw.Handler()
	serve := func(w *discardResponse) error {
		r := httptest.NewRequest(http.MethodPost, app.SOAPPath, bytes.NewReader(envelope))
		r.Header.Set("Content-Type", "text/xml; charset=utf-8")
		clear(w.header)
		w.status, w.bytes = 0, 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK || w.bytes < size {
			return fmt.Errorf("GetMedicineCard answered status %d with %d bytes", w.status, w.bytes)
		}
		return nil
	}
	for range 2 { // fills the cache and remembers the password
		if err := serve(&discardResponse{header: http.Header{}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetParallelism(16) // 32 requests at a time on 2 cores, as wrk's 32 connections
	cpu := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardResponse{header: http.Header{}}
		for pb.Next() {
			if err := serve(w); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/float64(time.Microsecond), "cpu-µs/op")
	b.ReportMetric(float64(size), "card-json-bytes")
}

// discardResponse is an http.ResponseWriter that counts what it is sent.
type discardResponse struct {
	header http.Header
	status int
	bytes  int
}

func (w *discardResponse) Header() http.Header { return w.header }
func (w *discardResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.bytes += len(p)
	return len(p), nil
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
