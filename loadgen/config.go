package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Actions the mix may name.
const (
	ActGetMedicineCard            = "GetMedicineCard"
	ActGetPrescription            = "GetPrescription"
	ActCreateDrugMedication       = "CreateDrugMedication"
	ActPauseDrugMedication        = "PauseDrugMedication"
	ActCreatePharmacyEffectuation = "CreatePharmacyEffectuation"
)

// Actions lists the actions a mix may name, in the order reports show them.
var Actions = []string{ActGetMedicineCard, ActGetPrescription, ActCreateDrugMedication,
	ActPauseDrugMedication, ActCreatePharmacyEffectuation}

// DefaultMix is the mix of `gateway bench`: mostly reads, as at a counter.
const DefaultMix = "GetMedicineCard=90,CreateDrugMedication=5,PauseDrugMedication=3,CreatePharmacyEffectuation=2"

// MixEntry is one action of a mix and its relative weight.
type MixEntry struct {
	Action string  `json:"action"`
	Weight float64 `json:"weight"`
}

// ParseMix parses "Action=weight,Action=weight,...". Weights are relative
// and need not add up to 100; an action may appear once.
func ParseMix(s string) ([]MixEntry, error) {
	var mix []MixEntry
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("mix: %q is not Action=weight", part)
		}
		if !slices.Contains(Actions, name) {
			return nil, fmt.Errorf("mix: unknown action %q (known: %s)", name, strings.Join(Actions, ", "))
		}
		weight, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if err != nil || weight < 0 || weight != weight {
			return nil, fmt.Errorf("mix: weight of %s: %q is not a number >= 0", name, w)
		}
		if slices.ContainsFunc(mix, func(e MixEntry) bool { return e.Action == name }) {
			return nil, fmt.Errorf("mix: %s appears twice", name)
		}
		if weight > 0 {
			mix = append(mix, MixEntry{Action: name, Weight: weight})
		}
	}
	if len(mix) == 0 {
		return nil, errors.New("mix: no action with a weight above 0")
	}
	return mix, nil
}

// FormatMix is the inverse of ParseMix.
func FormatMix(mix []MixEntry) string {
	parts := make([]string, len(mix))
	for i, e := range mix {
		parts[i] = e.Action + "=" + strconv.FormatFloat(e.Weight, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// Identity is an integrating system as the gateway's catalog knows it, with
// the organisation and role it calls in.
type Identity struct {
	System       string
	Secret       string
	Organisation string
	Role         string
}

// Config is one load run.
type Config struct {
	// Name labels the scenario in reports and the plot.
	Name string
	// URL is the SOAP endpoint.
	URL string
	// AllowRemote permits a host that is not loopback.
	AllowRemote bool

	// Concurrency is the number of workers: in the closed loop each sends
	// its next action when its last is answered; in the open loop it bounds
	// the requests in flight (0: 256).
	Concurrency int
	// Rate, if above 0, runs the open loop at Rate actions per second.
	Rate float64
	// Duration is how long to measure, after Warmup.
	Duration time.Duration
	// Actions, if above 0, ends the measurement after this many actions,
	// or at Duration if that comes first: a Go benchmark passes b.N.
	Actions int64
	// Warmup runs the same load first, unrecorded.
	Warmup time.Duration
	// Timeout bounds one request (0: 10 s).
	Timeout time.Duration

	// Mix is the weighted choice of actions (nil: DefaultMix).
	Mix []MixEntry
	// Persons is how many seeded persons to choose among: seed.New(Seed,
	// now).Person(i) for i < Persons.
	Persons int
	Seed    uint64
	// Zipf, if above 0, chooses persons by a Zipf law with this exponent
	// (it must be above 1; person 0 is the most popular); 0 is uniform.
	Zipf float64
	// IncludePrescriptions asks GetMedicineCard for the prescriptions and
	// their orders too: the whole card, as a pharmacy reads it.
	IncludePrescriptions bool
	// SOAP12 sends SOAP 1.2 envelopes instead of 1.1.
	SOAP12 bool
	// PasswordText sends the secret as PasswordText; otherwise a
	// PasswordDigest with a fresh nonce per request.
	PasswordText bool
	// Doctor calls the clinical operations, Pharmacy the pharmacy's.
	Doctor, Pharmacy Identity

	// GatewayPID, if above 0, is the gateway process whose CPU use the
	// report gives per 1,000 requests (Linux /proc).
	GatewayPID int
	// Client, if set, sends the requests; otherwise Run builds one tuned
	// for keep-alive and loopback.
	Client *http.Client
	// Progress, if set, is called about once a second with the time series
	// point just finished, from one goroutine.
	Progress func(Point)
}

// Default identities: the demo systems `gateway seed` registers.
var (
	DefaultDoctor   = Identity{System: "demo-gp", Secret: "demo-secret", Organisation: "SOR:483711000016009", Role: "Doctor"}
	DefaultPharmacy = Identity{System: "demo-pharmacy", Secret: "demo-secret", Organisation: "SOR:bench-pharmacy", Role: "Pharmacist"}
)

// withDefaults fills in zero values and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		c.URL = "http://127.0.0.1:8080/medcard"
	}
	if err := CheckURL(c.URL, c.AllowRemote); err != nil {
		return c, err
	}
	if c.Concurrency < 0 || c.Rate < 0 || c.Duration < 0 || c.Warmup < 0 || c.Timeout < 0 || c.Actions < 0 {
		return c, errors.New("concurrency, rate, duration, warmup, timeout and actions must not be negative")
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
		if c.Rate > 0 {
			c.Concurrency = 256
		}
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Mix == nil {
		c.Mix, _ = ParseMix(DefaultMix)
	}
	if len(c.Mix) == 0 {
		return c, errors.New("the mix is empty")
	}
	if c.Persons <= 0 {
		return c, errors.New("persons must be at least 1")
	}
	if c.Zipf != 0 && !(c.Zipf > 1) {
		return c, fmt.Errorf("zipf exponent %g: use 0 (uniform) or a value above 1, e.g. 1.1", c.Zipf)
	}
	if c.Doctor == (Identity{}) {
		c.Doctor = DefaultDoctor
	}
	if c.Pharmacy == (Identity{}) {
		c.Pharmacy = DefaultPharmacy
	}
	return c, nil
}

// CheckURL refuses what is not an http(s) URL, and, unless allowRemote, a
// host that is not loopback: "localhost" or a loopback IP address. Other
// names are refused without being resolved.
func CheckURL(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %q: the scheme must be http or https", raw)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("url %q: no host", raw)
	}
	if allowRemote || isLoopbackHost(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("url %q: %s is not a loopback address; pass --allow-remote to load a remote system on purpose", raw, u.Hostname())
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
