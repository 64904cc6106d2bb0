package loadgen

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/template"
)

// The plot is drawn by hand: two panels over a shared time axis,
// throughput (with errors) above and latency percentiles below. A plotting
// library would add a dependency for two line charts; SVG is text, and a
// template keeps it readable.

const (
	svgWidth   = 960
	svgHeight  = 645
	plotLeft   = 80.0
	plotRight  = 930.0
	panelTop1  = 70.0
	panelBot1  = 290.0
	panelTop2  = 345.0
	panelBot2  = 565.0
	tickTarget = 6
)

type svgTick struct {
	Pos   float64
	Label string
}

type svgLine struct {
	Path, Color, Label string
	Dash               string
	Width              float64
	LegendX            float64
}

type svgPanel struct {
	Top, Bottom float64
	YLabel      string
	YTicks      []svgTick
	Lines       []svgLine
	Note        string // e.g. "log scale"
}

type svgView struct {
	Width, Height int
	Left, Right   float64
	Title         string
	Subtitle      string
	Summary       string
	SummaryY      float64
	XTicks        []svgTick
	XLabel        string
	Panels        []svgPanel
	Empty         bool
}

var svgTemplate = template.Must(template.New("plot").Funcs(template.FuncMap{
	"x": func(s string) string {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	},
	"f":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"mid": func(a, b float64) float64 { return (a + b) / 2 },
	"add": func(a, b float64) float64 { return a + b },
	"neg": func(a float64) float64 { return -a },
}).Parse(`<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" font-family="Helvetica, Arial, sans-serif" font-size="12">
  <rect width="100%" height="100%" fill="#ffffff"/>
  <text x="{{f .Left}}" y="26" font-size="17" font-weight="bold" fill="#222">{{x .Title}}</text>
  <text x="{{f .Left}}" y="46" fill="#555">{{x .Subtitle}}</text>
{{- range $p := .Panels}}
  <g>
    <rect x="{{f $.Left}}" y="{{f $p.Top}}" width="{{f (add $.Right (neg $.Left))}}" height="{{f (add $p.Bottom (neg $p.Top))}}" fill="#fafafa" stroke="#ccc"/>
{{- range $p.YTicks}}
    <line x1="{{f $.Left}}" y1="{{f .Pos}}" x2="{{f $.Right}}" y2="{{f .Pos}}" stroke="#e4e4e4"/>
    <text x="{{f (add $.Left -6)}}" y="{{f (add .Pos 4)}}" text-anchor="end" fill="#444">{{x .Label}}</text>
{{- end}}
{{- range $.XTicks}}
    <line x1="{{f .Pos}}" y1="{{f $p.Top}}" x2="{{f .Pos}}" y2="{{f $p.Bottom}}" stroke="#eeeeee"/>
{{- end}}
    <text transform="translate(22 {{f (mid $p.Top $p.Bottom)}}) rotate(-90)" text-anchor="middle" fill="#222">{{x $p.YLabel}}</text>
{{- if $p.Note}}
    <text x="{{f (add $.Left 6)}}" y="{{f (add $p.Top 14)}}" fill="#888" font-style="italic">{{x $p.Note}}</text>
{{- end}}
{{- range $l := $p.Lines}}
{{- if $l.Path}}
    <path d="{{$l.Path}}" fill="none" stroke="{{$l.Color}}" stroke-width="{{f $l.Width}}" stroke-linejoin="round"{{if $l.Dash}} stroke-dasharray="{{$l.Dash}}"{{end}}/>
{{- end}}
    <line x1="{{f $l.LegendX}}" y1="{{f (add $p.Top -8)}}" x2="{{f (add $l.LegendX 22)}}" y2="{{f (add $p.Top -8)}}" stroke="{{$l.Color}}" stroke-width="3"{{if $l.Dash}} stroke-dasharray="{{$l.Dash}}"{{end}}/>
    <text x="{{f (add $l.LegendX 28)}}" y="{{f (add $p.Top -4)}}" fill="#222">{{x $l.Label}}</text>
{{- end}}
  </g>
{{- end}}
{{- range .XTicks}}
  <text x="{{f .Pos}}" y="{{f (add (index $.Panels 1).Bottom 16)}}" text-anchor="middle" fill="#444">{{x .Label}}</text>
  <text x="{{f .Pos}}" y="{{f (add (index $.Panels 0).Bottom 16)}}" text-anchor="middle" fill="#444">{{x .Label}}</text>
{{- end}}
  <text x="{{f (mid .Left .Right)}}" y="{{f (add (index .Panels 1).Bottom 36)}}" text-anchor="middle" fill="#222">{{x .XLabel}}</text>
{{- if .Empty}}
  <text x="{{f (mid .Left .Right)}}" y="{{f (mid (index .Panels 0).Top (index .Panels 1).Bottom)}}" text-anchor="middle" font-size="16" fill="#999">no completed second of measurement</text>
{{- end}}
  <text x="{{f .Left}}" y="{{f .SummaryY}}" fill="#333">{{x .Summary}}</text>
</svg>
`))

// WriteSVG draws the time series: throughput and errors per second above,
// p50, p99 and max latency per second below.
func (r *Report) WriteSVG(w io.Writer) error {
	return svgTemplate.Execute(w, r.svgView())
}

func (r *Report) svgView() svgView {
	v := svgView{Width: svgWidth, Height: svgHeight, Left: plotLeft, Right: plotRight, SummaryY: svgHeight - 12,
		XLabel: "time since the measurement began (s)"}
	name := r.Name
	if name == "" {
		name = "gateway bench"
	}
	c := r.Config
	mode := fmt.Sprintf("closed loop, %d workers", c.Concurrency)
	if c.Mode == "open" {
		mode = fmt.Sprintf("open loop at %g actions/s", c.Rate)
	}
	v.Title = name + " — " + mode
	dist := "uniform"
	if c.Zipf > 0 {
		dist = fmt.Sprintf("Zipf s=%g", c.Zipf)
	}
	v.Subtitle = fmt.Sprintf("SOAP %s, %s, %d persons (%s), mix %s", c.SOAP, c.Auth, c.Persons, dist, FormatMix(c.Mix))
	t := r.Total
	v.Summary = fmt.Sprintf("%d requests in %.1f s: %.1f req/s, p50 %s ms, p99 %s ms, max %s ms, %d errors",
		t.Count, r.MeasuredSeconds, t.RPS, fmtMs(t.Latency.P50Ms), fmtMs(t.Latency.P99Ms), fmtMs(t.Latency.MaxMs), t.Errors)

	n := len(r.Series)
	v.Empty = n == 0
	xMax := math.Max(float64(n), 1)
	xPos := func(t float64) float64 { return plotLeft + (plotRight-plotLeft)*t/xMax }
	for _, tv := range niceTicks(0, xMax) {
		v.XTicks = append(v.XTicks, svgTick{Pos: xPos(tv), Label: trimFloat(tv)})
	}
	// Points sit in the middle of their second.
	at := func(i int) float64 { return xPos(float64(i) + 0.5) }

	// Throughput panel.
	maxRPS := 0.0
	if c.Mode == "open" {
		maxRPS = c.Rate
	}
	for _, p := range r.Series {
		maxRPS = math.Max(maxRPS, math.Max(p.RPS, float64(p.Errors)))
	}
	tp := svgPanel{Top: panelTop1, Bottom: panelBot1, YLabel: "requests per second"}
	yTop := niceCeil(maxRPS)
	yLin := func(top, bottom, maxV float64) func(float64) float64 {
		return func(val float64) float64 { return bottom - (bottom-top)*val/maxV }
	}
	y1 := yLin(panelTop1, panelBot1, yTop)
	for _, tv := range niceTicks(0, yTop) {
		tp.YTicks = append(tp.YTicks, svgTick{Pos: y1(tv), Label: trimFloat(tv)})
	}
	tp.Lines = []svgLine{
		{Path: pathOf(n, at, func(i int) (float64, bool) { return y1(r.Series[i].RPS), true }), Color: "#1f77b4", Label: "throughput", Width: 2},
		{Path: pathOf(n, at, func(i int) (float64, bool) { return y1(float64(r.Series[i].Errors)), true }), Color: "#d62728", Label: "errors/s", Width: 1.5},
	}
	if c.Mode == "open" && n > 0 {
		tp.Lines = append(tp.Lines, svgLine{Path: fmt.Sprintf("M%.1f %.1fH%.1f", plotLeft, y1(c.Rate), plotRight),
			Color: "#555555", Label: "target rate", Width: 1, Dash: "6 4"})
	}

	// Latency panel: log scale when p99 and p50 are far apart, so that
	// both stay readable.
	lo, hi := math.Inf(1), 0.0
	for _, p := range r.Series {
		if p.Requests == 0 {
			continue
		}
		lo = math.Min(lo, p.P50Ms)
		hi = math.Max(hi, p.MaxMs)
	}
	lp := svgPanel{Top: panelTop2, Bottom: panelBot2, YLabel: "latency (ms)"}
	var y2 func(float64) float64
	if hi > 0 && lo > 0 && hi/lo >= 20 {
		lp.Note = "log scale"
		dLo, dHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if dHi == dLo {
			dHi++
		}
		y2 = func(val float64) float64 {
			val = math.Max(val, math.Pow(10, dLo))
			return panelBot2 - (panelBot2-panelTop2)*(math.Log10(val)-dLo)/(dHi-dLo)
		}
		for d := dLo; d <= dHi; d++ {
			for _, m := range []float64{1, 2, 5} {
				if val := m * math.Pow(10, d); d < dHi || m == 1 {
					lp.YTicks = append(lp.YTicks, svgTick{Pos: y2(val), Label: trimFloat(val)})
				}
			}
		}
	} else {
		top := niceCeil(hi)
		y2 = yLin(panelTop2, panelBot2, top)
		for _, tv := range niceTicks(0, top) {
			lp.YTicks = append(lp.YTicks, svgTick{Pos: y2(tv), Label: trimFloat(tv)})
		}
	}
	lat := func(get func(Point) float64) func(int) (float64, bool) {
		return func(i int) (float64, bool) {
			p := r.Series[i]
			return y2(get(p)), p.Requests > 0
		}
	}
	lp.Lines = []svgLine{
		{Path: pathOf(n, at, lat(func(p Point) float64 { return p.MaxMs })), Color: "#999999", Label: "max", Width: 1, Dash: "4 3"},
		{Path: pathOf(n, at, lat(func(p Point) float64 { return p.P99Ms })), Color: "#ff7f0e", Label: "p99", Width: 2},
		{Path: pathOf(n, at, lat(func(p Point) float64 { return p.P50Ms })), Color: "#2ca02c", Label: "p50", Width: 2},
	}
	v.Panels = []svgPanel{tp, lp}
	// Legends run left to right, ending at the right edge.
	for i := range v.Panels {
		lines := v.Panels[i].Lines
		for j := range lines {
			lines[j].LegendX = plotRight - 120*float64(len(lines)-j) + 20
		}
	}
	return v
}

// pathOf is an SVG path through the points i < n that exist; a missing
// point breaks the line.
func pathOf(n int, x func(int) float64, y func(int) (float64, bool)) string {
	var b strings.Builder
	pen := false
	for i := range n {
		yv, ok := y(i)
		if !ok {
			pen = false
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		if n == 1 { // a lone point: a short flat stroke so it shows
			fmt.Fprintf(&b, "M%.1f %.1fL%.1f %.1f", x(i)-4, yv, x(i)+4, yv)
			break
		}
		fmt.Fprintf(&b, "%s%.1f %.1f", cmd, x(i), yv)
		pen = true
	}
	return b.String()
}

// niceStep is a round step (1, 2 or 5 times a power of ten) that cuts
// span into about tickTarget parts.
func niceStep(span float64) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / tickTarget
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// niceCeil rounds v up to a multiple of its nice step, at least 1.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	s := niceStep(v)
	return math.Max(math.Ceil(v/s)*s, s)
}

func niceTicks(lo, hi float64) []float64 {
	s := niceStep(hi - lo)
	var out []float64
	for t := math.Ceil(lo/s) * s; t <= hi+s*1e-9; t += s {
		out = append(out, t)
	}
	return out
}

func trimFloat(v float64) string {
	if v >= 1 || v == 0 {
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
