// svg.go draws the report as an SVG chart: total memberships, events per
// minute by action, and the occupancy of each watched channel, in panels
// one under the other on a shared time axis. Text is placed from an
// estimate of its width: titles wrap instead of running off the edge, and
// each legend has a band of its own between its panel's title and plot.
// The chart holds only simulated figures (no wall-clock timing), so a run
// with one worker draws the same SVG every time.

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/presencekit/presence"
)

// Layout of the chart, in pixels.
const (
	chartW    = 960
	marginL   = 72 // room for the y labels
	marginR   = 24
	plotW     = chartW - marginL - marginR
	fontPx    = 12
	titlePx   = 16
	lineGap   = 4  // between lines of wrapped text
	legendRow = 18 // height of a legend row
	panelGap  = 30 // between a panel's x labels and the next panel's title
)

// chartColors are the colours of the watched channels' lines.
var chartColors = []string{"#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"}

// The colours of the event actions.
var actionColors = map[presence.Action]string{
	presence.Join:        "#2ca02c",
	presence.Leave:       "#ff7f0e",
	presence.Timeout:     "#d62728",
	presence.StateChange: "#9467bd",
	presence.Interval:    "#1f77b4",
}

// textWidth estimates the width of s in a sans-serif font of px pixels:
// 0.6 em a character is above the average of common sans-serif fonts
// (about 0.5 em), so text measured with it fits.
func textWidth(s string, px float64) float64 {
	return float64(utf8.RuneCountInString(s)) * px * 0.6
}

// wrap splits s at spaces into lines whose estimated width is at most
// width; a word wider than width gets a line of its own.
func wrap(s string, px, width float64) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && textWidth(line+" "+w, px) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// series is one line of a panel: a value per point of the panel.
type series struct {
	name  string
	color string
	dash  bool
	v     []float64
}

// panel is one plot: its series share the panel's y axis.
type panel struct {
	title   string
	h       int
	log     bool            // logarithmic y axis from 1; values below 1 are drawn at 1
	at      []time.Duration // x of each point
	series  []series
	ref     *series // a horizontal reference line (one value), dashed, in the legend
	minStep float64 // smallest y tick step
	legend  bool    // draw a legend even for one series
}

// svgWriter accumulates the chart's elements and the height they take.
type svgWriter struct {
	b    bytes.Buffer
	y    float64 // top of the free space
	maxT time.Duration
}

func (s *svgWriter) printf(format string, a ...any) { fmt.Fprintf(&s.b, format, a...) }

func (s *svgWriter) text(x, y float64, attrs, text string) {
	s.printf(`<text x="%.1f" y="%.1f"%s>%s</text>`+"\n", x, y, attrs, html.EscapeString(text))
}

func (s *svgWriter) xOf(t time.Duration) float64 {
	if s.maxT <= 0 {
		return marginL
	}
	return marginL + plotW*float64(t)/float64(s.maxT)
}

// block writes text wrapped to the plot's width, from the current height.
func (s *svgWriter) block(text string, px float64, attrs string) {
	for _, l := range wrap(text, px, chartW-marginL-marginR) {
		s.y += px
		s.text(marginL, s.y, attrs, l)
		s.y += lineGap
	}
}

// legend writes the entries in rows that fit the plot's width.
func (s *svgWriter) legend(entries []series) {
	x := float64(marginL)
	s.y += legendRow
	for _, e := range entries {
		w := 26 + textWidth(e.name, fontPx)
		if x > marginL && x+w > marginL+plotW {
			x = marginL
			s.y += legendRow
		}
		dash := ""
		if e.dash {
			dash = ` stroke-dasharray="5,3"`
		}
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"%s/>`+"\n", x, s.y-4, x+20, s.y-4, e.color, dash)
		s.text(x+26, s.y, "", e.name)
		x += w + 18
	}
	s.y += 8
}

// draw writes p at the current height.
func (s *svgWriter) draw(p panel) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, sr := range p.series {
		for _, v := range sr.v {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 0
	}
	title := p.title
	var ticks []float64
	var yOf func(v float64) float64
	top := 0.0 // set below, once the legend is placed
	if p.log {
		pow := max(1, int(math.Ceil(math.Log10(max(hi, 1))-1e-9)))
		for i := 0; i <= pow; i++ {
			ticks = append(ticks, math.Pow(10, float64(i)))
		}
		yOf = func(v float64) float64 {
			return top + float64(p.h)*(1-math.Log10(max(v, 1))/float64(pow))
		}
	} else {
		if p.ref != nil && p.ref.v[0] > hi && p.ref.v[0] <= 2*hi {
			hi = p.ref.v[0] // a channel near the line shows where it is
		}
		var zoomed bool
		ticks, zoomed = valueTicks(lo, hi, 5, p.minStep)
		if zoomed {
			title += " (axis not from zero)"
		}
		tlo, thi := ticks[0], ticks[len(ticks)-1]
		yOf = func(v float64) float64 { return top + float64(p.h)*(1-(v-tlo)/(thi-tlo)) }
	}
	ref := p.ref
	if ref != nil && !p.log {
		tlo, thi := ticks[0], ticks[len(ticks)-1]
		if v := ref.v[0]; v < tlo || v > thi || v-tlo < (thi-tlo)/50 {
			ref = nil // off the axis or indistinguishable from its floor
		}
	}

	s.y += fontPx
	s.text(marginL, s.y, ` font-weight="bold"`, title)
	entries := p.series
	if ref != nil {
		entries = append(entries[:len(entries):len(entries)], *ref)
	}
	if len(entries) > 1 || p.legend {
		s.legend(entries)
	} else {
		s.y += 8
	}
	top = s.y
	bottom := top + float64(p.h)
	s.printf(`<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", marginL, top, plotW, p.h)
	for _, v := range ticks {
		y := yOf(v)
		s.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", marginL, y, marginL+plotW, y)
		s.text(marginL-6, y+4, ` text-anchor="end"`, shortNum(v))
	}
	xt, xl := timeTicks(s.maxT, plotW/90)
	for i, t := range xt {
		x := s.xOf(t)
		s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x, top, x, bottom)
		anchor := ` text-anchor="middle"`
		if i == len(xt)-1 && x+textWidth(xl[i], fontPx)/2 > chartW {
			anchor = ` text-anchor="end"`
		}
		s.text(x, bottom+16, anchor, xl[i])
	}
	if ref != nil {
		y := yOf(ref.v[0])
		s.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="5,3"/>`+"\n", marginL, y, marginL+plotW, y, ref.color)
	}
	// One path per series; on a log axis a zero breaks the line (a single
	// point between zeros is drawn as a dot by the round line caps).
	for _, sr := range p.series {
		dash := ""
		if sr.dash {
			dash = ` stroke-dasharray="5,3"`
		}
		s.printf(`<path fill="none" stroke="%s" stroke-width="1.5" stroke-linecap="round" stroke-linejoin="round"%s d="`, sr.color, dash)
		move := true
		for i, v := range sr.v {
			if p.log && v < 1 {
				move = true
				continue
			}
			cmd := " L"
			if move {
				cmd = " M"
				if i == 0 {
					cmd = "M"
				}
			}
			x, y := s.xOf(p.at[i]), yOf(v)
			s.printf("%s%.1f,%.1f", cmd, x, y)
			if move && (i+1 == len(sr.v) || (p.log && sr.v[i+1] < 1)) {
				s.printf(" l0,0") // a lone point
			}
			move = false
		}
		s.printf(`"/>` + "\n")
	}
	s.y = bottom + 16 + panelGap
}

// writeSVG draws the report's samples.
func writeSVG(out io.Writer, rep *Report) error {
	s := &svgWriter{y: 8}
	if n := len(rep.Samples); n > 0 {
		s.maxT = rep.Samples[n-1].At
	}
	c := rep.Config
	s.block(fmt.Sprintf("presencesim: memberships, events and occupancy over %s of simulated time", durLabel(rep.Simulated)), titlePx, ` font-size="16"`)
	clients, load := describe(c)
	s.y += 2
	s.block(clients, fontPx, ` fill="#555"`)
	s.block(load, fontPx, ` fill="#555"`)
	s.y += 16

	at := make([]time.Duration, len(rep.Samples))
	total := make([]float64, len(rep.Samples))
	for i, sm := range rep.Samples {
		at[i], total[i] = sm.At, float64(sm.Memberships)
	}
	s.draw(panel{title: "memberships (all channels)", h: 220, at: at, minStep: 1,
		series: []series{{name: "memberships", color: "#1f77b4", v: total}}})

	// Events per simulated minute, over groups of sample intervals that
	// make about 60 points (the first sample, at 0, has nothing before it).
	if n := len(rep.Samples) - 1; n > 0 {
		group := max(1, n/60)
		ev := panel{title: fmt.Sprintf("events per simulated minute, by action (log scale; averaged over %s)",
			durLabel(rep.Samples[min(group, n)].At)), h: 220, log: true}
		var sums []EventCounts
		var spans []time.Duration
		for i := 1; i <= n; i += group {
			j := min(i+group-1, n)
			var sum EventCounts
			for k := i; k <= j; k++ {
				sum.merge(&rep.Samples[k].Events)
			}
			sums = append(sums, sum)
			spans = append(spans, rep.Samples[j].At-rep.Samples[i-1].At)
			ev.at = append(ev.at, rep.Samples[j].At)
		}
		for a := presence.Join; a <= presence.Interval; a++ {
			sr := series{name: a.String(), color: actionColors[a]}
			for k := range sums {
				sr.v = append(sr.v, float64(sums[k].Events[a])*perMinute(spans[k]))
			}
			ev.series = append(ev.series, sr)
		}
		if c.Deltas && announceMax(c) >= 0 {
			sr := series{name: "joins, leaves and timeouts carried in interval events", color: "#7f7f7f", dash: true}
			for k := range sums {
				d := sums[k].Deltas
				sr.v = append(sr.v, float64(d[presence.Join]+d[presence.Leave]+d[presence.Timeout])*perMinute(spans[k]))
			}
			ev.series = append(ev.series, sr)
		}
		s.draw(ev)
	}

	var ref *series
	if n := announceMax(c); n >= 0 {
		ref = &series{name: fmt.Sprintf("announce max %d: above it, interval events replace joins, leaves and timeouts", n),
			color: "#555", dash: true, v: []float64{float64(n)}}
	}
	for j, name := range rep.WatchedChannels {
		sr := series{name: name, color: chartColors[j%len(chartColors)]}
		for _, sm := range rep.Samples {
			sr.v = append(sr.v, float64(sm.Channels[j]))
		}
		rank := "the most popular"
		if r := rep.WatchedRanks[j]; r == c.Channels-1 && r > 0 {
			rank = "the least popular"
		} else if r > 0 {
			rank = fmt.Sprintf("popularity rank %d", r+1)
		}
		s.draw(panel{title: fmt.Sprintf("occupancy of %s (%s of %d channels)", name, rank, c.Channels),
			h: 110, at: at, minStep: 1, series: []series{sr}, ref: ref})
	}
	s.y -= panelGap - 4
	s.text(marginL+plotW/2, s.y+fontPx, ` text-anchor="middle" fill="#555"`, "simulated time")
	height := int(math.Ceil(s.y + fontPx + 12))

	w := bufio.NewWriter(out)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">`+"\n",
		chartW, height, chartW, height, fontPx)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, height)
	w.Write(s.b.Bytes())
	fmt.Fprintln(w, `</svg>`)
	return w.Flush()
}

// perMinute is the factor that turns a count over d into a rate per minute.
func perMinute(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(time.Minute) / float64(d)
}
