package main

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The plot is drawn by hand, as loadgen's and movereport's are: three
// small line charts, a dependency would buy nothing.

var colors = map[string]string{"cached-read": "#1f77b4", "uncached-read": "#ff7f0e", "write": "#2ca02c", "p50": "#2ca02c", "p99": "#ff7f0e"}

type series struct {
	label, color string
	x, y         []float64
	noisy        []bool
}

type panel struct {
	title, xLabel, yLabel string
	logX                  bool
	lines                 []series
}

const (
	plotW, panelH   = 900.0, 250.0
	left, right     = 80.0, 860.0
	panelGap, topAt = 70.0, 60.0
)

func plot(res Results) string {
	var panels []panel
	cpu := panel{title: "gateway CPU per request against the card's size", xLabel: "drug medications per card (each with its prescriptions)", yLabel: "CPU ms per request"}
	p99 := panel{title: "p99 latency against the card's size", xLabel: "drug medications per card", yLabel: "p99 ms"}
	for _, sc := range scenarios {
		var c, l series
		c.label, c.color = sc, colors[sc]
		l.label, l.color = sc, colors[sc]
		for _, cell := range res.Cells {
			if cell.Part == partCards && cell.Scenario == sc {
				c.x, c.y, c.noisy = append(c.x, float64(cell.Size)), append(c.y, cell.CPUMs), append(c.noisy, cell.Noisy)
				l.x, l.y, l.noisy = append(l.x, float64(cell.Size)), append(l.y, cell.P99Ms), append(l.noisy, cell.Noisy)
			}
		}
		if len(c.x) > 0 {
			cpu.lines = append(cpu.lines, c)
			p99.lines = append(p99.lines, l)
		}
	}
	if len(cpu.lines) > 0 {
		panels = append(panels, cpu, p99)
	}
	persons := panel{title: "uncached read against the data set (uniform persons, cache off)", xLabel: "persons seeded (log scale)", yLabel: "latency ms", logX: true}
	for _, q := range []string{"p50", "p99"} {
		s := series{label: "uncached read " + q, color: colors[q]}
		for _, cell := range res.Cells {
			if cell.Part == partPersons && cell.Scenario == "uncached-read" {
				v := cell.P50Ms
				if q == "p99" {
					v = cell.P99Ms
				}
				s.x, s.y, s.noisy = append(s.x, float64(cell.Size)), append(s.y, v), append(s.noisy, cell.Noisy)
			}
		}
		if len(s.x) > 0 {
			persons.lines = append(persons.lines, s)
		}
	}
	if len(persons.lines) > 0 {
		panels = append(panels, persons)
	}

	height := topAt + float64(len(panels))*(panelH+panelGap) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Helvetica, Arial, sans-serif" font-size="12">
<rect width="100%%" height="100%%" fill="#ffffff"/>
<text x="%.0f" y="26" font-size="17" font-weight="bold" fill="#222">make bench-scale: how cost grows</text>
<text x="%.0f" y="44" fill="#555">%s</text>
`, plotW, height, plotW, height, left, left, esc("medians of the repeats; hollow markers are noisy cells; load average at the start: "+res.Load))
	if len(panels) == 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="16" fill="#999">no measurement</text>`+"\n", left, topAt+40)
	}
	for i, p := range panels {
		drawPanel(&b, p, topAt+float64(i)*(panelH+panelGap)+20)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func drawPanel(b *strings.Builder, p panel, top float64) {
	bottom := top + panelH
	xMin, xMax, yMax := math.Inf(1), 0.0, 0.0
	for _, s := range p.lines {
		for i := range s.x {
			xMin, xMax, yMax = math.Min(xMin, s.x[i]), math.Max(xMax, s.x[i]), math.Max(yMax, s.y[i])
		}
	}
	yTop := niceCeil(yMax)
	var xPos func(float64) float64
	var xTicks []float64
	if p.logX {
		lo, hi := math.Floor(math.Log10(xMin)), math.Ceil(math.Log10(xMax))
		if hi == lo {
			hi++
		}
		xPos = func(v float64) float64 { return left + (right-left)*(math.Log10(v)-lo)/(hi-lo) }
		for d := lo; d <= hi; d++ {
			xTicks = append(xTicks, math.Pow(10, d))
			if d < hi {
				xTicks = append(xTicks, 5*math.Pow(10, d))
			}
		}
	} else {
		xTop := niceCeil(xMax)
		xPos = func(v float64) float64 { return left + (right-left)*v/xTop }
		xTicks = niceTicks(xTop)
	}
	yPos := func(v float64) float64 { return bottom - panelH*v/yTop }
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-weight="bold" fill="#222">%s</text>`+"\n", left, top-8, esc(p.title))
	fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="#fafafa" stroke="#ccc"/>`+"\n", left, top, right-left, panelH)
	for _, t := range niceTicks(yTop) {
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#e4e4e4"/><text x="%.0f" y="%.1f" text-anchor="end" fill="#444">%s</text>`+"\n",
			left, yPos(t), right, yPos(t), left-6, yPos(t)+4, num(t))
	}
	for _, t := range xTicks {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#eee"/><text x="%.1f" y="%.0f" text-anchor="middle" fill="#444">%s</text>`+"\n",
			xPos(t), top, xPos(t), bottom, xPos(t), bottom+16, num(t))
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle" fill="#222">%s</text>`+"\n", (left+right)/2, bottom+34, esc(p.xLabel))
	fmt.Fprintf(b, `<text transform="translate(22 %.0f) rotate(-90)" text-anchor="middle" fill="#222">%s</text>`+"\n", top+panelH/2, esc(p.yLabel))
	for k, s := range p.lines {
		var path strings.Builder
		for i := range s.x {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.1f %.1f", cmd, xPos(s.x[i]), yPos(s.y[i]))
		}
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", path.String(), s.color)
		for i := range s.x {
			fill := s.color
			if s.noisy[i] {
				fill = "#ffffff"
			}
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="%s" stroke-width="1.5"><title>%s</title></circle>`+"\n",
				xPos(s.x[i]), yPos(s.y[i]), fill, s.color, esc(fmt.Sprintf("%s at %s: %s", s.label, num(s.x[i]), num(s.y[i]))))
		}
		lx := left + 10 + float64(k)*170
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="3"/><text x="%.0f" y="%.0f" fill="#222">%s</text>`+"\n",
			lx, top+14, lx+22, top+14, s.color, lx+28, top+18, esc(s.label))
	}
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// niceStep is a round step (1, 2 or 5 times a power of ten) cutting span
// into about six parts.
func niceStep(span float64) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	s := niceStep(v)
	return math.Max(math.Ceil(v/s)*s, s)
}

func niceTicks(top float64) []float64 {
	s := niceStep(top)
	var out []float64
	for t := 0.0; t <= top+s*1e-9; t += s {
		out = append(out, t)
	}
	return out
}

// num prints a tick or value: round numbers plainly, large ones with k/M.
func num(v float64) string {
	switch {
	case v >= 1e6 && math.Mod(v, 1e5) == 0:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e4 && math.Mod(v, 1e3) == 0:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	case v >= 10:
		return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
