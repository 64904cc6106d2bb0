package soap

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/soap/envelope"
)

// Config is the SOAP edge's configuration.
type Config struct {
	// WSDL is the service description served at ?wsdl, with our public
	// address already in it.
	WSDL []byte
	// WSDLSOAP11 is its SOAP-1.1-only view (wsdl.RenderSOAP11), served at
	// ?wsdl&soap=1.1 for toolkits that refuse SOAP 1.2; nil serves none.
	WSDLSOAP11 []byte
	// SingleWSDL is the view served at ?singleWsdl, the URL .NET
	// developers fetch (wsdl.RenderSingle: the headers in messages of
	// their own, the form .NET's importers read); nil serves WSDL and
	// WSDLSOAP11 there.
	SingleWSDL []byte
	// SingleWSDLSOAP11 is SingleWSDL's SOAP-1.1-only view
	// (wsdl.RenderSingleSOAP11), served at ?singleWsdl&soap=1.1; nil
	// serves none when SingleWSDL is set.
	SingleWSDLSOAP11 []byte
	// Limits bound the cost of parsing one request.
	Limits Limits
	// MaxConcurrentParses bounds the requests parsed at once; a request
	// waits for its turn within its Timeout. Parsing is all CPU, so more
	// at once than cores serve none sooner, and each may allocate up to
	// about 7 MB (a message of MaxTokens tokens): the bound keeps a burst
	// of hostile messages from adding those up. 0: four per CPU.
	MaxConcurrentParses int
	// Timeout bounds the work for one request; every database and cache
	// call inherits it.
	Timeout time.Duration
	// Now is the clock for token freshness.
	Now func() time.Time
	// Registerer receives the request latency histogram; nil registers none.
	Registerer prometheus.Registerer
	// TLSTerminatedUpstream says TLS ends at a proxy in front of us, so a
	// request without TLS of its own still crossed the network encrypted;
	// unset, a PasswordText token is accepted only over TLS to us
	// (transport.go).
	TLSTerminatedUpstream bool
}

// Handler serves the medicine card SOAP endpoint: POST for operations, GET
// ?wsdl for the service description.
type Handler struct {
	svc     CardService
	systems Systems
	nonces  Nonces
	log     *zap.Logger
	cfg     Config
	now     func() time.Time
	ops     map[string]*operation // by wrapper element, all in Namespace
	latency *prometheus.HistogramVec
	// overrides counts the answered requests that asked for an emergency
	// override, by operation: each is also logged, and audited as one.
	overrides *prometheus.CounterVec
	// passwords remembers recent good PasswordText checks (password.go).
	passwords *passwordCache
	// vocab is our names, which the envelope's lexer need not copy.
	vocab *envelope.Vocabulary
	// parses holds a token per request being parsed
	// (Config.MaxConcurrentParses).
	parses chan struct{}
}

// NewHandler returns the SOAP endpoint over svc. nonces may be nil (no
// replay protection beyond token freshness).
func NewHandler(svc CardService, systems Systems, nonces Nonces, log *zap.Logger, cfg Config) *Handler {
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxConcurrentParses <= 0 {
		cfg.MaxConcurrentParses = 4 * runtime.GOMAXPROCS(0)
	}
	h := &Handler{svc: svc, systems: systems, nonces: nonces, log: log, cfg: cfg, now: cfg.Now,
		ops: map[string]*operation{}, passwords: newPasswordCache(time.Now), vocab: vocabularyOf(operations),
		parses: make(chan struct{}, cfg.MaxConcurrentParses)}
	for _, op := range operations {
		h.ops[op.element.Local] = op
	}
	h.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "medcard_soap_request_duration_seconds",
		Help:    "SOAP request latency by operation and result (ok, or the fault's code).",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"op", "result"})
	h.overrides = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "medcard_emergency_overrides_total",
		Help: "Answered requests that asked for an emergency override (ConsentHeader), by operation.",
	}, []string{"op"})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(h.latency, h.overrides)
	}
	return h
}

// RequestIDHeader carries the request id; a caller's own id is kept, else
// we make one. It is echoed in the response and in fault details.
const RequestIDHeader = "X-Request-ID"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		h.serveWSDL(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	start := h.now()
	requestID := requestIDOf(r)
	w.Header().Set(RequestIDHeader, requestID)
	ctx, reqLog := medcard.WithRequestLog(r.Context())
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()

	version, charset := parseContentType(r.Header.Get("Content-Type"))
	out := answer{version: version, gzip: acceptsGzip(r.Header.Get("Accept-Encoding"))}
	opName := "unknown"
	override := false // the call asked for an emergency override
	err := func() error {
		body, err := h.readBody(w, r, charset)
		if err != nil {
			return err
		}
		req, err := h.parse(ctx, body, charset)
		if req != nil && req.msg.Version != 0 {
			out.version, out.op, out.headers = req.msg.Version, req.op, req.msg.Reply()
		}
		if err != nil {
			return err
		}
		opName = string(req.op.name)
		caller, admit, err := h.authenticate(ctx, req, h.transportOf(r))
		if err != nil {
			return err
		}
		call, err := req.call(caller)
		if err != nil {
			return err
		}
		override = call.EmergencyOverride
		// The reads of a card await the nonce's verdict only before their
		// audit row (medcard.Call.Admit), so their card look-up and the
		// nonce check reach Redis together; every other operation awaits
		// it first. Nothing is answered before it.
		if admittedAlongside[req.op.name] {
			call.Admit = admit.wait
		} else if err := admit.wait(); err != nil {
			return err
		}
		resp, err := req.op.serve(ctx, h.svc, call, req.msg.Body)
		if err := admit.wait(); err != nil {
			return err
		}
		if err != nil {
			return err
		}
		return h.writeResponse(w, out, resp)
	}()
	err = catalogued(err)

	took := h.now().Sub(start)
	result := "ok"
	if err != nil {
		result = string(medcard.FaultOf(err).Code)
	}
	h.latency.WithLabelValues(opName, result).Observe(took.Seconds())
	fields := []zap.Field{
		zap.String("request_id", requestID), zap.String("op", opName),
		zap.Int("soap", int(out.version)), zap.Duration("took", took),
	}
	if reqLog.Shard >= 0 {
		fields = append(fields, zap.Int("shard", reqLog.Shard), zap.String("db", reqLog.Database))
	}
	if err == nil {
		h.log.Info("soap request", fields...)
		if override {
			h.reportOverride(opName, requestID, reqLog)
		}
		return
	}
	f := medcard.FaultOf(err)
	fields = append(fields, zap.String("code", string(f.Code)), zap.String("fault", f.ID))
	if f.Code == medcard.CodeInternal || f.Code == medcard.CodeUnavailable {
		h.log.Error("soap request failed", append(fields, zap.Error(err))...)
	} else {
		h.log.Info("soap request refused", fields...)
	}
	h.writeFault(w, out, err, requestID)
}

// reportOverride counts and logs an answered request that asked for an
// emergency override, as the "always audited and reported" asks
// (its audit row says so too): restricted says whether it looked past the
// citizen's restriction (medcard.NoteOverride). No person in either.
func (h *Handler) reportOverride(op, requestID string, reqLog *medcard.RequestLog) {
	h.overrides.WithLabelValues(op).Inc()
	h.log.Warn("emergency override", zap.String("request_id", requestID), zap.String("op", op),
		zap.Bool("restricted", reqLog.RestrictionOverridden))
}

// parse is readRequest in its turn (Config.MaxConcurrentParses), waiting
// for one at most until ctx ends; then it returns no request.
//
// Errors: FaultUnavailable, and readRequest's.
func (h *Handler) parse(ctx context.Context, body []byte, charset string) (*request, error) {
	select {
	case h.parses <- struct{}{}:
	case <-ctx.Done():
		return nil, medcard.Errorf(medcard.FaultUnavailable, "the gateway is busy reading other requests: resend with the same MessageID")
	}
	defer func() { <-h.parses }()
	return h.readRequest(body, charset)
}

// admittedAlongside are the operations whose nonce check runs alongside
// them: the reads of one card, which await it before their audit row
// (medcard.Service.read) and have no other effect.
var admittedAlongside = map[medcard.Operation]bool{
	medcard.OpGetMedicineCard: true, medcard.OpGetDrugMedication: true, medcard.OpGetPrescription: true,
}

// answer is what an answer depends on besides its content: the SOAP
// version, the operation (nil until the body named one), the headers the
// request asks to be answered, and whether it may be gzip-compressed.
type answer struct {
	version envelope.Version
	op      *operation
	headers envelope.Reply
	gzip    bool
}

// serveWSDL answers a GET: the WSDL at ?wsdl, or at ?singleWsdl (what .NET
// developers ask for: WCF's name for a WSDL with every schema inline; ours
// imports nothing either way) the view of it for .NET's importers; with
// soap=1.1 the SOAP-1.1-only view of either. ?wsdl wins when both are
// asked.
func (h *Handler) serveWSDL(w http.ResponseWriter, r *http.Request) {
	_, wsdl := queryKey(r, "wsdl")
	_, single := queryKey(r, "singleWsdl")
	if !wsdl && !single {
		http.Error(w, "POST a SOAP envelope here, or GET ?wsdl for the service description", http.StatusMethodNotAllowed)
		return
	}
	doc, soap11 := h.cfg.WSDL, h.cfg.WSDLSOAP11
	if !wsdl && h.cfg.SingleWSDL != nil {
		doc, soap11 = h.cfg.SingleWSDL, h.cfg.SingleWSDLSOAP11
	}
	if v, ok := queryKey(r, "soap"); ok {
		if v != "1.1" || soap11 == nil {
			http.Error(w, "the WSDL's one view is soap=1.1 (?wsdl&soap=1.1 or ?singleWsdl&soap=1.1: the SOAP 1.1 binding and port only)", http.StatusNotFound)
			return
		}
		doc = soap11
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(doc)
}

// readBody reads the request body, decompressing gzip, and enforces the
// size limit after decompression. A body that may be UTF-16 may take up
// to twice the limit, which envelope.Parse then holds for its UTF-8 form.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, charset string) ([]byte, error) {
	max := h.cfg.Limits.MaxBytes
	var src io.Reader = http.MaxBytesReader(w, r.Body, 2*max)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, medcard.Errorf(medcard.FaultMalformedMessage, "the gzip body cannot be read")
		}
		defer zr.Close()
		src = zr
	default:
		return nil, medcard.Errorf(medcard.FaultMalformedMessage, "unsupported Content-Encoding %q", enc)
	}
	body, err := io.ReadAll(io.LimitReader(src, max+1))
	if err == nil && int64(len(body)) > max && envelope.MayBeUTF16(body, charset) {
		var rest []byte
		rest, err = io.ReadAll(io.LimitReader(src, max))
		body = append(body, rest...)
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || int64(len(body)) > 2*max || (int64(len(body)) > max && !envelope.MayBeUTF16(body, charset)) {
		return nil, medcard.Errorf(medcard.FaultMessageTooLarge, "the message is larger than %d bytes", max)
	}
	if err != nil {
		return nil, medcard.Errorf(medcard.FaultMalformedMessage, "the body cannot be read")
	}
	return body, nil
}

// responseBuffers are reused response buffers: a card response is several
// KB, and growing a fresh buffer to that size for every request showed in
// the profile (docs/performance.md).
var responseBuffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 16<<10)) }}

// maxPooledResponse bounds the buffers kept for reuse, so that one huge
// card does not pin its buffer.
const maxPooledResponse = 256 << 10

// writeResponse wraps resp in an envelope of the answer's version.
func (h *Handler) writeResponse(w http.ResponseWriter, a answer, resp any) error {
	b := responseBuffers.Get().(*bytes.Buffer)
	defer putResponseBuffer(b)
	b.WriteString(xml.Header)
	b.WriteString(`<soap:Envelope xmlns:soap="` + a.version.Namespace() + `">`)
	if !a.headers.Empty() {
		b.WriteString(`<soap:Header>`)
		a.headers.Write(b, a.op.outputAction, h.now(), tokenFreshness)
		b.WriteString(`</soap:Header>`)
	}
	b.WriteString(`<soap:Body>`)
	var err error
	if a, ok := resp.(xmlAppender); ok {
		err = marshalAnswer(b, a) // marshal.go: the same bytes, without reflection
	} else {
		err = xml.NewEncoder(b).Encode(resp)
	}
	if err != nil {
		return medcard.WrapError(medcard.FaultInternal, err, "encode response")
	}
	b.WriteString(`</soap:Body></soap:Envelope>`)
	send(w, a, http.StatusOK, b.Bytes())
	return nil
}

func putResponseBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledResponse {
		b.Reset()
		responseBuffers.Put(b)
	}
}

// send writes an answer's status and envelope, gzip-compressed when the
// request allows it and the envelope is long enough to gain from it.
func send(w http.ResponseWriter, a answer, status int, envelope []byte) {
	h := w.Header()
	h.Set("Content-Type", a.version.ContentType())
	if a.gzip && len(envelope) >= gzipMinBytes {
		z := responseBuffers.Get().(*bytes.Buffer)
		defer putResponseBuffer(z)
		gzipInto(z, envelope)
		envelope = z.Bytes()
		h.Set("Content-Encoding", "gzip")
		h.Set("Vary", "Accept-Encoding")
	}
	h.Set("Content-Length", strconv.Itoa(len(envelope)))
	w.WriteHeader(status)
	_, _ = w.Write(envelope)
}

// parseContentType reads the SOAP version (for faults about a body we
// could not parse) and the charset from a request's Content-Type.
func parseContentType(ct string) (envelope.Version, string) {
	mt, params, _ := mime.ParseMediaType(ct)
	v := envelope.SOAP11
	if mt == "application/soap+xml" {
		v = envelope.SOAP12
	}
	return v, params["charset"]
}

func queryKey(r *http.Request, key string) (string, bool) {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, key) {
			return strings.Join(v, ""), true
		}
	}
	return "", false
}

func requestIDOf(r *http.Request) string {
	id := r.Header.Get(RequestIDHeader)
	if id != "" && len(id) <= 64 && strings.IndexFunc(id, func(c rune) bool {
		return !(c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
	}) < 0 {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
