package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// servedGateway is a `gateway serve` process, the binary as operators run
// it, over env's cluster (its PostgreSQL servers and Redis).
type servedGateway struct {
	cmd      *exec.Cmd
	addr     string // host:port it listens on
	endpoint string
	logs     *lockedBuffer // its stderr: the JSON log lines
}

// startServe runs `gateway serve` on a loopback port with the flags given
// after the cluster's, and waits until it listens; it is stopped when t
// ends.
func startServe(t *testing.T, flags ...string) *servedGateway {
	t.Helper()
	e := requireEnv(t)
	bin := gatewayBinary(t)
	clean := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MEDCARD_") })
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--catalog-dsn", e.cluster.CatalogDSN,
		"--secret-key-file", e.cluster.SecretKeyFile, "--redis-addr", e.cluster.Redis.Addr}, flags...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = clean
	g := &servedGateway{cmd: cmd, logs: &lockedBuffer{}}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		lines := bufio.NewScanner(stderr)
		lines.Buffer(make([]byte, 64<<10), 1<<20)
		for lines.Scan() {
			g.logs.Write(append(lines.Bytes(), '\n'))
			var l struct {
				Msg, Addr string
			}
			if json.Unmarshal(lines.Bytes(), &l) == nil && l.Msg == "gateway listening" {
				select {
				case listening <- l.Addr:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		<-copied
	})
	select {
	case g.addr = <-listening:
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway serve did not listen within 30 s; its log:\n%s", g.logs.String())
	}
	g.endpoint = "http://" + g.addr + "/medcard"
	return g
}

// memory reads the process's resident set and its peak (VmRSS, VmHWM) in
// bytes from /proc.
func (g *servedGateway) memory(t *testing.T) (rss, peak int64) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("the gateway process is gone: %v; its log:\n%s", err, g.logs.String())
	}
	for _, line := range strings.Split(string(status), "\n") {
		for key, into := range map[string]*int64{"VmRSS:": &rss, "VmHWM:": &peak} {
			if rest, ok := strings.CutPrefix(line, key); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				*into = kb << 10
			}
		}
	}
	return rss, peak
}

// rawAnswer is what came back on a connection: the HTTP answer, if one
// came, and how the connection ended.
type rawAnswer struct {
	status int
	body   []byte
	err    error         // reading the answer: nil, or how it failed (EOF: closed)
	took   time.Duration // from the first byte sent to the answer or the close
}

// rawRequest sends head (the request line and headers, without the blank
// line) and then body, in pieces of step bytes every pause when step > 0,
// over a new connection to addr; with halfClose it then closes its side.
// It reads the answer for at most wait.
func rawRequest(addr, head string, body []byte, step int, pause time.Duration, halfClose bool, wait time.Duration) rawAnswer {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return rawAnswer{err: err}
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetDeadline(start.Add(wait))
	go func() {
		msg := append([]byte(head+"\r\n\r\n"), body...)
		if step <= 0 {
			_, _ = conn.Write(msg)
		} else {
			for len(msg) > 0 {
				n := min(step, len(msg))
				if _, err := conn.Write(msg[:n]); err != nil {
					return
				}
				msg = msg[n:]
				time.Sleep(pause)
			}
		}
		if halfClose {
			_ = conn.(*net.TCPConn).CloseWrite()
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawAnswer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rawAnswer{status: resp.StatusCode, body: b, err: err, took: time.Since(start)}
}

// soapHead is the head of a SOAP 1.1 POST of n bytes to addr.
func soapHead(addr string, n int, extra ...string) string {
	h := []string{"POST /medcard HTTP/1.1", "Host: " + addr, "Content-Type: text/xml; charset=utf-8", `SOAPAction: ""`,
		"Content-Length: " + strconv.Itoa(n)}
	return strings.Join(append(h, extra...), "\r\n")
}

// gzipBomb compresses n bytes of spaces between the halves of envelope
// (inside its header, where whitespace is allowed).
func gzipBomb(t *testing.T, envelope string, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	head, tail, ok := strings.Cut(envelope, "<s:Header>")
	if !ok {
		t.Fatalf("no <s:Header> in %s", envelope)
	}
	_, _ = zw.Write([]byte(head + "<s:Header>"))
	spaces := bytes.Repeat([]byte(" "), 1<<20)
	for written := 0; written < n; written += len(spaces) {
		_, _ = zw.Write(spaces)
	}
	_, _ = zw.Write([]byte(tail))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// personRows are what the databases hold of person: the card's version (0:
// none) and the audit rows.
func personRows(t *testing.T, person string) (version, audits int64) {
	t.Helper()
	for name, p := range env.cluster.Shards {
		var v, n int64
		if err := p.QueryRow(context.Background(),
			`SELECT coalesce((SELECT version FROM cards WHERE person = $1), 0), (SELECT count(*) FROM audit_log WHERE person = $1)`,
			person).Scan(&v, &n); err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		version, audits = max(version, v), audits+n
	}
	return version, audits
}

// TestHostileRequests runs the hostile requests of issue 14 against a real
// `gateway serve` (its flags set short so the slow cases stay short) over
// real PostgreSQL and Redis: each gets a clear SOAP fault with its stable
// code (or, for slow and idle clients, a closed connection within the
// bound), none writes anything (the card's version and its audit rows
// stay), the gateway's peak memory stays bounded, and it serves a good
// request afterwards.
func TestHostileRequests(t *testing.T) {
	const (
		readHeaderTimeout = time.Second
		readTimeout       = 3 * time.Second
		maxConnections    = 300
		idleFlood         = 3000
	)
	g := startServe(t, "--read-header-timeout", readHeaderTimeout.String(), "--read-timeout", readTimeout.String(),
		"--idle-timeout", "5s", "--max-connections", strconv.Itoa(maxConnections))
	client := &http.Client{Timeout: 20 * time.Second}
	person := freshPerson(t)
	write := func(drug string) string { return call{body: createBody(person, 0, drug)}.envelope() }
	status, body := mustSOAP(t, client, g.endpoint, write("Pinex"))
	responseBody(t, status, body, new(struct{}))
	version, audits := personRows(t, person)
	if version != 1 || audits != 1 {
		t.Fatalf("after one write the card has version %d and %d audit rows, want 1 and 1", version, audits)
	}
	baseRSS, _ := g.memory(t)

	// Every case starts from a valid write of its own (its own MessageID
	// and nonce), so one that got through would be written, not refused
	// as a resend or a replay.
	valid := func() string { return write("Panodil") }
	// replaced is a valid write with its first old replaced by new; old
	// must be there, or the case would send the valid write.
	replaced := func(old, new string) string {
		v := valid()
		if !strings.Contains(v, old) {
			t.Fatalf("no %s in %s", old, v)
		}
		return strings.Replace(v, old, new, 1)
	}
	inject := func(at, s string) string { return replaced(at, s+at) }
	withName := func(name string) string { return replaced("<mc:Name>Panodil</mc:Name>", "<mc:Name>"+name+"</mc:Name>") }
	laughs := `<!DOCTYPE lolz [<!ENTITY lol0 "lol">` // 10^9 lols, if expanded
	for i := 1; i <= 9; i++ {
		laughs += fmt.Sprintf(`<!ENTITY lol%d "%s">`, i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
	}
	laughs += `]>`
	var attrs strings.Builder
	for i := 0; attrs.Len() < 900<<10; i++ {
		fmt.Fprintf(&attrs, ` a%d="x"`, i)
	}
	deep := strings.Repeat("<mc:a>", 50_000) + strings.Repeat("</mc:a>", 50_000) // 650 KB, within the size limit
	bomb := gzipBomb(t, valid(), 200<<20)

	type hostile struct {
		name      string
		head      string
		body      []byte
		step      int           // dribble this many bytes …
		pause     time.Duration // … every pause
		halfClose bool
		bodyOnly  bool          // dribble the body only, the headers sent at once
		wantFault string        // the SOAP fault's FaultIdentifier, or
		wantHTTP  int           // an HTTP status without a SOAP fault, or
		wantClose time.Duration // the connection closed within this, without an answer, with
		orStatus  int           // this status, or with a MalformedMessage fault
	}
	plain := func(name, envelope, fault string) hostile {
		return hostile{name: name, head: soapHead(g.addr, len(envelope)), body: []byte(envelope), wantFault: fault}
	}
	cases := []hostile{
		plain("billion laughs", laughs+withName("&lol9;"), "MalformedMessage"),
		plain("external entity", `<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`+withName("&xxe;"), "MalformedMessage"),
		plain("external DTD", `<!DOCTYPE s:Envelope SYSTEM "http://127.0.0.1:1/medcard.dtd">`+valid(), "MalformedMessage"),
		plain("deep nesting", inject("</mc:Dosage>", deep), "MalformedMessage"),
		plain("many attributes", replaced("<mc:CreateDrugMedicationRequest>", "<mc:CreateDrugMedicationRequest"+attrs.String()+">"), "MessageTooLarge"),
		plain("a huge attribute", replaced("<mc:CreateDrugMedicationRequest>", `<mc:CreateDrugMedicationRequest note="`+strings.Repeat("x", 900<<10)+`">`), "MessageTooLarge"),
		plain("a huge element name", inject("<mc:Dosage>", "<mc:"+strings.Repeat("N", 900<<10)+"/>"), "MessageTooLarge"),
		plain("invalid UTF-8", withName("Pinex \xff\xfe\xc3\x28 forte"), "MalformedMessage"),
		{name: "a gzip bomb (200 MiB in " + strconv.Itoa(len(bomb)>>10) + " KiB)", head: soapHead(g.addr, len(bomb), "Content-Encoding: gzip"), body: bomb, wantFault: "MessageTooLarge"},
		plain("an oversized body (20 MiB)", inject("<mc:MessageHeader>", strings.Repeat(" ", 20<<20)), "MessageTooLarge"),
	}
	for _, tc := range []hostile{
		{name: "a truncated body (Content-Length larger than sent)", halfClose: true, wantFault: "MalformedMessage"},
		{name: "a truncated body, the client waiting", wantClose: readTimeout + 2*time.Second},
		{name: "huge HTTP headers", wantHTTP: http.StatusRequestHeaderFieldsTooLarge},
		{name: "slowloris: headers dribbled", step: 1, pause: 100 * time.Millisecond, wantClose: readHeaderTimeout + 2*time.Second, orStatus: http.StatusBadRequest},
		{name: "slowloris: body dribbled", step: 16, pause: 200 * time.Millisecond, bodyOnly: true, wantClose: readTimeout + 2*time.Second},
	} {
		v := valid()
		tc.body, tc.head = []byte(v), soapHead(g.addr, len(v))
		switch {
		case strings.HasPrefix(tc.name, "a truncated body"):
			tc.head = soapHead(g.addr, len(v)+5000)
		case tc.wantHTTP != 0:
			tc.head = soapHead(g.addr, len(v), "X-Padding: "+strings.Repeat("p", 1<<20))
		}
		cases = append(cases, tc)
	}

	peak := baseRSS
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wait := 20 * time.Second
			if tc.wantClose > 0 {
				wait = tc.wantClose + 5*time.Second
			}
			var a rawAnswer
			if tc.bodyOnly {
				a = dribbleBody(g.addr, tc.head, tc.body, tc.step, tc.pause, wait)
			} else {
				a = rawRequest(g.addr, tc.head, tc.body, tc.step, tc.pause, tc.halfClose, wait)
			}
			switch {
			case tc.wantFault != "":
				if a.err != nil || a.status != http.StatusInternalServerError {
					t.Fatalf("answered %d (%v) in %v, want 500 with fault %s: %.300s", a.status, a.err, a.took, tc.wantFault, a.body)
				}
				if f := parseFault(t, a.body); f.Identifier != tc.wantFault {
					t.Errorf("fault %s (%s), want %s", f.Identifier, f.Message, tc.wantFault)
				}
				if bytes.Contains(a.body, []byte("root:")) || bytes.Contains(a.body, []byte(person)) || bytes.Contains(a.body, []byte("goroutine")) {
					t.Errorf("the fault quotes what it must not: %.600s", a.body)
				}
			case tc.wantHTTP != 0:
				if a.status != tc.wantHTTP {
					t.Errorf("answered %d (%v), want %d", a.status, a.err, tc.wantHTTP)
				}
			default:
				// A slow client is cut: the connection closes, with no
				// answer, net/http's 400 for headers that never ended, or
				// the fault of a body that never came.
				if a.took > tc.wantClose {
					t.Errorf("the connection stayed open %v, want it closed within %v", a.took, tc.wantClose)
				}
				if a.err == nil && a.status != tc.orStatus && (a.status != http.StatusInternalServerError || parseFault(t, a.body).Identifier != "MalformedMessage") {
					t.Errorf("answered %d: %.300s, want the connection closed or MalformedMessage", a.status, a.body)
				}
				if a.err != nil && !errors.Is(a.err, io.EOF) && !errors.Is(a.err, io.ErrUnexpectedEOF) && !errors.Is(a.err, syscall.ECONNRESET) {
					t.Errorf("the connection ended with %v, want it closed by the gateway", a.err)
				}
			}
			rss, hwm := g.memory(t)
			peak = max(peak, hwm)
			t.Logf("answered %d %v in %v; gateway RSS %d MiB, peak %d MiB", a.status, a.err, a.took.Round(time.Millisecond), rss>>20, hwm>>20)
		})
	}

	t.Run("all at once", func(t *testing.T) {
		// Three of each refused body at the same time: memory stays
		// bounded with the requests' costs added up.
		var wg sync.WaitGroup
		var mu sync.Mutex
		sent := 0
		for _, tc := range cases {
			if tc.wantFault == "" || tc.halfClose {
				continue
			}
			for range 3 {
				sent++
				wg.Add(1)
				go func() {
					defer wg.Done()
					a := rawRequest(g.addr, tc.head, tc.body, 0, 0, false, 60*time.Second)
					mu.Lock()
					defer mu.Unlock()
					if a.err != nil || a.status != http.StatusInternalServerError || !bytes.Contains(a.body, []byte(">"+tc.wantFault+"<")) {
						t.Errorf("%s: answered %d (%v), want fault %s: %.300s", tc.name, a.status, a.err, tc.wantFault, a.body)
					}
				}()
			}
		}
		wg.Wait()
		rss, hwm := g.memory(t)
		peak = max(peak, hwm)
		t.Logf("%d hostile requests at once; gateway RSS %d MiB, peak %d MiB", sent, rss>>20, hwm>>20)
	})

	t.Run("idle connection flood", func(t *testing.T) {
		conns := make([]net.Conn, 0, idleFlood)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range idleFlood {
			c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
			if err != nil {
				t.Fatalf("connection %d: %v", len(conns)+1, err)
			}
			conns = append(conns, c)
		}
		// Every connection ends: those past --max-connections at once, the
		// others at --read-header-timeout, having sent nothing.
		var wg sync.WaitGroup
		var mu sync.Mutex
		var slowest time.Duration
		open := 0
		start := time.Now()
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.SetReadDeadline(start.Add(readHeaderTimeout + 5*time.Second))
				_, err := c.Read(make([]byte, 1))
				mu.Lock()
				defer mu.Unlock()
				if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
					open++
				}
				slowest = max(slowest, time.Since(start))
			}()
		}
		rss, hwm := g.memory(t)
		wg.Wait()
		peak = max(peak, hwm)
		if open > 0 {
			t.Errorf("%d of %d idle connections were still open after %v", open, idleFlood, readHeaderTimeout+5*time.Second)
		}
		refused := refusedConnections(t, client, g)
		if refused < idleFlood-maxConnections {
			t.Errorf("the gateway closed %d connections on accept, want at least %d (--max-connections %d of %d)",
				refused, idleFlood-maxConnections, maxConnections, idleFlood)
		}
		t.Logf("%d idle connections, %d closed on accept, the last closed by the gateway after %v; gateway RSS %d MiB during the flood, peak %d MiB",
			idleFlood, refused, slowest.Round(time.Millisecond), rss>>20, hwm>>20)
	})

	// Nothing was written, memory stayed bounded, and the gateway serves.
	if v, n := personRows(t, person); v != version || n != audits {
		t.Errorf("after the hostile requests the card has version %d and %d audit rows, want %d and %d", v, n, version, audits)
	}
	const peakBound = 128 << 20
	if peak > peakBound {
		t.Errorf("the gateway's peak RSS was %d MiB (from %d MiB), want at most %d MiB", peak>>20, baseRSS>>20, peakBound>>20)
	}
	t.Logf("gateway RSS %d MiB before the hostile requests, peak %d MiB", baseRSS>>20, peak>>20)
	status, body = mustSOAP(t, client, g.endpoint, write("Panodil"))
	responseBody(t, status, body, new(struct{}))
	if v, n := personRows(t, person); v != version+1 || n != audits+1 {
		t.Errorf("a good write after the hostile requests left version %d and %d audit rows, want %d and %d", v, n, version+1, audits+1)
	}
	if strings.Contains(g.logs.String(), person) {
		t.Errorf("the gateway's log names the person")
	}
}

// refusedConnections reads medcard_http_connections_refused_total from the
// gateway's /metrics.
func refusedConnections(t *testing.T, client *http.Client, g *servedGateway) int {
	t.Helper()
	resp, err := client.Get("http://" + g.addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "medcard_http_connections_refused_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("medcard_http_connections_refused_total %q: %v", v, err)
			}
			return int(n)
		}
	}
	t.Fatal("no medcard_http_connections_refused_total in /metrics")
	return 0
}

// dribbleBody sends head at once and then body in pieces of step bytes
// every pause, reading the answer for at most wait.
func dribbleBody(addr, head string, body []byte, step int, pause time.Duration, wait time.Duration) rawAnswer {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return rawAnswer{err: err}
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetDeadline(start.Add(wait))
	if _, err := conn.Write([]byte(head + "\r\n\r\n")); err != nil {
		return rawAnswer{err: err}
	}
	go func() {
		for len(body) > 0 {
			n := min(step, len(body))
			if _, err := conn.Write(body[:n]); err != nil {
				return
			}
			body = body[n:]
			time.Sleep(pause)
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawAnswer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rawAnswer{status: resp.StatusCode, body: b, err: err, took: time.Since(start)}
}
