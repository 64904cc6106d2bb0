package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sharedmedcard/gateway/internal/app"
	"github.com/sharedmedcard/gateway/internal/soapclient"
	"github.com/sharedmedcard/gateway/internal/testservers"
)

// TestNonceReplayCheckedWhileRedisDown: the replay check of PasswordDigest
// tokens does not turn off while Redis is down. A token used during the
// outage is refused when replayed then, at either gateway, after Redis is
// back, and at a gateway started after the outage that never fell back;
// when neither Redis nor the catalog can record a nonce, the token is
// refused with a retryable fault instead of accepted.
func TestNonceReplayCheckedWhileRedisDown(t *testing.T) {
	e := requireEnv(t)
	r, err := testservers.StartRedis()
	testservers.RequireT(t, err)
	t.Cleanup(func() { r.Stop() })
	_, portText, _ := net.SplitHostPort(r.Addr)
	port, _ := strconv.Atoi(portText)
	config := func(endpoint string) app.Config { return e.config(endpoint, r.Addr) }
	a, b := startGateway(t, config), startGateway(t, config)

	client := soapclient.New(a.endpoint, newLoadClient(t))
	token := func() []byte { return client.Envelope(call{body: getCardBody(freshPerson(t))}.request()) }
	sendTo := func(gw *testGateway, envelope []byte) (int, soapclient.Fault) {
		t.Helper()
		var resp soapclient.Response
		err := soapclient.New(gw.endpoint, newLoadClient(t)).Do(context.Background(),
			&soapclient.Request{Raw: envelope}, &resp)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		if f, err := soapclient.ParseFault(resp.Body); err == nil {
			return resp.Status, *f
		}
		return resp.Status, soapclient.Fault{}
	}
	wantOK := func(step string, gw *testGateway, envelope []byte) {
		t.Helper()
		if status, f := sendTo(gw, envelope); status != http.StatusOK {
			t.Errorf("%s: status %d, fault %s, want 200", step, status, f.Identifier)
		}
	}
	wantReplay := func(step string, gw *testGateway, envelope []byte) {
		t.Helper()
		if status, f := sendTo(gw, envelope); status != http.StatusInternalServerError || f.Identifier != "NotAuthenticated" {
			t.Errorf("%s: status %d, fault %q, want 500 NotAuthenticated", step, status, f.Identifier)
		}
	}

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	duringOutage := token()
	wantOK("first use while Redis is down", a, duringOutage)
	wantReplay("replay at the same gateway while Redis is down", a, duringOutage)
	wantReplay("replay at the other gateway while Redis is down", b, duringOutage)

	r2, err := testservers.StartRedisOnPort(port)
	if err != nil {
		t.Fatalf("restart Redis on port %d: %v", port, err)
	}
	t.Cleanup(func() { r2.Stop() })
	// The breakers let a probe through at most 2 s after they opened.
	time.Sleep(2500 * time.Millisecond)
	c := startGateway(t, config)
	// c learns from the catalog's live nonces within its poll (1 s).
	time.Sleep(1500 * time.Millisecond)
	wantReplay("replay at a gateway that fell back, Redis back", b, duringOutage)
	wantReplay("replay at a gateway started after the outage", c, duringOutage)

	afterOutage := token()
	wantOK("first use, Redis back", c, afterOutage)
	wantReplay("replay, Redis back", a, afterOutage)

	// Neither store can record a nonce: Redis stopped and the catalog's
	// table unreachable (renamed away for a moment).
	if err := r2.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.cluster.Catalog.Exec(ctx, `ALTER TABLE used_nonces RENAME TO used_nonces_away`); err != nil {
		t.Fatal(err)
	}
	status, f := sendTo(a, token())
	if _, err := e.cluster.Catalog.Exec(ctx, `ALTER TABLE used_nonces_away RENAME TO used_nonces`); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusInternalServerError || f.Identifier != "ServiceUnavailable" || !f.Retryable {
		t.Errorf("token while neither Redis nor the catalog can record its nonce: status %d, fault %q (retryable %v), want 500 ServiceUnavailable, retryable",
			status, f.Identifier, f.Retryable)
	}
	wantOK("first use, Redis down, catalog back", a, token())
}

// TestCachedReadInOneRedisRoundTrip: a cached read sent with a
// PasswordDigest checks its nonce alongside the card look-up, so the two
// reach Redis together. Behind a link that delays every byte to Redis by
// linkDelay, such a read takes about one delay; checked one after the
// other, the two calls took two.
func TestCachedReadInOneRedisRoundTrip(t *testing.T) {
	e := requireEnv(t)
	const linkDelay = 50 * time.Millisecond
	link := startDelayingLink(t, e.cluster.Redis.Addr, linkDelay)
	gw := startGateway(t, func(endpoint string) app.Config { return e.config(endpoint, link) })
	client := newLoadClient(t)
	person := freshPerson(t)
	if _, err := createVersion(client, gw.endpoint, person, 0, "Hjertemagnyl"); err != nil {
		t.Fatal(err)
	}
	// The first read fills the cache; the ones after it are hits.
	if _, err := readVersion(client, gw.endpoint, person); err != nil {
		t.Fatal(err)
	}
	before := gw.scrape(t, client)
	var took []time.Duration
	for range 7 {
		start := time.Now()
		if _, err := readVersion(client, gw.endpoint, person); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	after := gw.scrape(t, client)
	if hits := delta(before, after, `medcard_cache_reads_total{result="hit"}`); hits != 7 {
		t.Fatalf("%.0f of 7 reads were cache hits; the test needs hits", hits)
	}
	slices.Sort(took)
	median := took[len(took)/2]
	t.Logf("cached reads with PasswordDigest behind a %v link to Redis: median %v (fastest %v, slowest %v)", linkDelay, median, took[0], took[len(took)-1])
	if median >= linkDelay*3/2 {
		t.Errorf("median cached read = %v behind a %v link, want under %v: the nonce check and the card look-up went to Redis one after the other",
			median, linkDelay, linkDelay*3/2)
	}
}

// startDelayingLink forwards loopback connections to addr, each byte sent
// towards addr delivered delay after it arrived (answers are not delayed),
// and returns its address.
func startDelayingLink(t *testing.T, addr string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			t.Cleanup(func() { in.Close(); out.Close() })
			type chunk struct {
				at   time.Time
				data []byte
			}
			chunks := make(chan chunk, 1024)
			go func() {
				defer close(chunks)
				for {
					buf := make([]byte, 64<<10)
					n, err := in.Read(buf)
					if n > 0 {
						chunks <- chunk{time.Now(), buf[:n]}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer out.Close()
				for c := range chunks {
					time.Sleep(time.Until(c.at.Add(delay)))
					if _, err := out.Write(c.data); err != nil {
						return
					}
				}
			}()
			go func() {
				defer in.Close()
				io.Copy(in, out)
			}()
		}
	}()
	return ln.Addr().String()
}
