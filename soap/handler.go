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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sharedmedcard/gateway/medcard"
)

// Config is the SOAP edge's configuration.
type Config struct {
	// WSDL is the service description served at ?wsdl, with our public
	// address already in it.
	WSDL []byte
	// Limits bound the cost of parsing one request.
	Limits Limits
	// Timeout bounds the work for one request; every database and cache
	// call inherits it.
	Timeout time.Duration
	// Now is the clock for token freshness.
	Now func() time.Time
	// Registerer receives the request latency histogram; nil registers none.
	Registerer prometheus.Registerer
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
	ops     map[xml.Name]*operation
	latency *prometheus.HistogramVec
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
	h := &Handler{svc: svc, systems: systems, nonces: nonces, log: log, cfg: cfg, now: cfg.Now,
		ops: map[xml.Name]*operation{}}
	for _, op := range operations {
		h.ops[op.element] = op
	}
	h.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "medcard_soap_request_duration_seconds",
		Help:    "SOAP request latency by operation and result (ok, or the fault's code).",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"op", "result"})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(h.latency)
	}
	return h
}

// RequestIDHeader carries the request id; a caller's own id is kept, else
// we make one. It is echoed in the response and in fault details.
const RequestIDHeader = "X-Request-ID"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		// ?singleWsdl is what .NET developers ask for (WCF's name for a
		// WSDL with every schema inline); ours imports nothing, so it is
		// the same document.
		_, wsdl := queryKey(r, "wsdl")
		_, single := queryKey(r, "singleWsdl")
		if wsdl || single {
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			_, _ = w.Write(h.cfg.WSDL)
			return
		}
		http.Error(w, "POST a SOAP envelope here, or GET ?wsdl for the service description", http.StatusMethodNotAllowed)
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
	err := func() error {
		body, err := h.readBody(w, r, charset)
		if err != nil {
			return err
		}
		doc, fromUTF16, err := toUTF8(body, charset, h.cfg.Limits.MaxBytes)
		if err != nil {
			return err
		}
		env, err := parseEnvelope(doc, fromUTF16, h.cfg.Limits, h.ops)
		if env != nil {
			out.version, out.op, out.headers = env.version, env.op, replyHeadersOf(env)
		}
		if err != nil {
			return err
		}
		opName = string(env.op.name)
		caller, err := h.authenticate(ctx, env)
		if err != nil {
			return err
		}
		messageID, err := messageIDOf(env)
		if err != nil {
			return err
		}
		resp, err := env.op.serve(ctx, h.svc, medcard.Call{Caller: caller, MessageID: messageID}, env.request)
		if err != nil {
			return err
		}
		return h.writeResponse(w, out, resp)
	}()

	took := h.now().Sub(start)
	result := "ok"
	if err != nil {
		result = string(medcard.FaultOf(err).Code)
	}
	h.latency.WithLabelValues(opName, result).Observe(took.Seconds())
	fields := []zap.Field{
		zap.String("request_id", requestID), zap.String("op", opName),
		zap.Int("soap", int(version)), zap.Duration("took", took),
	}
	if reqLog.Shard >= 0 {
		fields = append(fields, zap.Int("shard", reqLog.Shard), zap.String("db", reqLog.Database))
	}
	if err == nil {
		h.log.Info("soap request", fields...)
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

// messageIDOf is the request's idempotency key: our MessageHeader's
// MessageID, or, when that is absent or empty, its wsa:MessageID
// (addressingHeaders.messageKey).
//
// Errors: FaultInvalidField.
func messageIDOf(env *envelope) (string, error) {
	id := ""
	if env.message != nil {
		id = strings.TrimSpace(env.message.MessageID)
	}
	if len(id) > maxMessageIDLength {
		return "", medcard.Errorf(medcard.FaultInvalidField, "MessageID is longer than %d characters", maxMessageIDLength)
	}
	if id == "" {
		id = env.addressing.messageKey() // its length was checked as it was read
	}
	return id, nil
}

// answer is what an answer depends on besides its content: the SOAP
// version, the operation (nil until the body named one), the headers the
// request asks to be answered, and whether it may be gzip-compressed.
type answer struct {
	version Version
	op      *operation
	headers replyHeaders
	gzip    bool
}

// readBody reads the request body, decompressing gzip, and enforces the
// size limit after decompression. A body that may be UTF-16 may take up
// to twice the limit, which toUTF8 then holds for its UTF-8 form.
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
	if err == nil && int64(len(body)) > max && mayBeUTF16(body, charset) {
		var rest []byte
		rest, err = io.ReadAll(io.LimitReader(src, max))
		body = append(body, rest...)
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || int64(len(body)) > 2*max || (int64(len(body)) > max && !mayBeUTF16(body, charset)) {
		return nil, tooLarge(max)
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
	b.WriteString(`<soap:Envelope xmlns:soap="` + a.version.namespace() + `">`)
	if !a.headers.empty() {
		b.WriteString(`<soap:Header>`)
		a.headers.write(b, a.op.outputAction, h.now())
		b.WriteString(`</soap:Header>`)
	}
	b.WriteString(`<soap:Body>`)
	if err := xml.NewEncoder(b).Encode(resp); err != nil {
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
	h.Set("Content-Type", a.version.contentType())
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
func parseContentType(ct string) (Version, string) {
	mt, params, _ := mime.ParseMediaType(ct)
	v := SOAP11
	if mt == "application/soap+xml" {
		v = SOAP12
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
