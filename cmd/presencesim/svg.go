package main

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"time"
)

// chartColors are the colours of the watched channels' lines.
var chartColors = []string{"#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"}

// writeSVG draws the report's samples: total memberships over simulated
// time in the top panel, the watched channels' occupancy in the bottom one.
func writeSVG(out io.Writer, rep *Report) error {
	w := bufio.NewWriter(out)
	const (
		width, height = 960, 620
		left, right   = 90, 30
		plotW         = width - left - right
	)
	type panel struct {
		top, h int
		title  string
		series [][]float64
		names  []string
		colors []string
	}
	total := make([]float64, len(rep.Samples))
	for i, s := range rep.Samples {
		total[i] = float64(s.Memberships)
	}
	chs := make([][]float64, len(rep.WatchedChannels))
	for j := range chs {
		chs[j] = make([]float64, len(rep.Samples))
		for i, s := range rep.Samples {
			chs[j][i] = float64(s.Channels[j])
		}
	}
	panels := []panel{
		{top: 60, h: 300, title: "memberships (all channels)", series: [][]float64{total}, names: []string{"memberships"}, colors: []string{"#1f77b4"}},
		{top: 420, h: 150, title: "occupancy of watched channels", series: chs, names: rep.WatchedChannels, colors: chartColors},
	}
	var maxT time.Duration
	if n := len(rep.Samples); n > 0 {
		maxT = rep.Samples[n-1].At
	}
	xOf := func(t time.Duration) float64 {
		if maxT == 0 {
			return left
		}
		return left + float64(plotW)*float64(t)/float64(maxT)
	}

	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	c := rep.Config
	fmt.Fprintf(w, `<text x="%d" y="24" font-size="16">%s</text>`+"\n", left, html.EscapeString(fmt.Sprintf(
		"presencesim: %d uuids x %d channels over %d channels, heartbeat %v, timeout %v, churn %g/min, vanish %g",
		c.UUIDs, c.PerUUID, c.Channels, c.Heartbeat, c.Timeout, c.Churn, c.Vanish)))
	fmt.Fprintf(w, `<text x="%d" y="42" fill="#555">simulated time on the x axis; %d samples</text>`+"\n", left, len(rep.Samples))

	for _, p := range panels {
		lo, hi := math.Inf(1), 0.0
		for _, s := range p.series {
			for _, v := range s {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		// The axis starts at zero unless the series stay in the top half,
		// where a zero-based axis would flatten them; then it is zoomed.
		title := p.title
		if hi > 0 && lo > hi/2 {
			step := niceCeil((hi - lo) / 4)
			for math.Floor(lo/step)*step+4*step < hi {
				step = niceCeil(step * 1.01)
			}
			lo = math.Floor(lo/step) * step
			hi = lo + 4*step
			title += " (axis not from zero)"
		} else {
			lo, hi = 0, niceCeil(hi)
		}
		yOf := func(v float64) float64 { return float64(p.top+p.h) - float64(p.h)*(v-lo)/(hi-lo) }
		fmt.Fprintf(w, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", left, p.top-8, html.EscapeString(title))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", left, p.top, plotW, p.h)
		for i := 0; i <= 4; i++ {
			v := lo + (hi-lo)*float64(i)/4
			y := yOf(v)
			fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", left, y, left+plotW, y)
			fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, shortNum(v))
		}
		ticks, labels := timeTicks(maxT, plotW/90)
		for i, t := range ticks {
			x := xOf(t)
			fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", x, p.top, x, p.top+p.h)
			fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, p.top+p.h+16, labels[i])
		}
		for j, s := range p.series {
			color := p.colors[j%len(p.colors)]
			fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, color)
			for i, v := range s {
				if i > 0 {
					w.WriteByte(' ')
				}
				fmt.Fprintf(w, "%.1f,%.1f", xOf(rep.Samples[i].At), yOf(v))
			}
			fmt.Fprintf(w, `"/>`+"\n")
			lx := left + plotW - 200
			ly := p.top + 16 + 16*j
			fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, ly-4, lx+20, ly-4, color)
			fmt.Fprintf(w, `<text x="%d" y="%d">%s</text>`+"\n", lx+26, ly, html.EscapeString(p.names[j]))
		}
	}
	fmt.Fprintln(w, `</svg>`)
	return w.Flush()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// shortNum writes v with a k or M suffix.
func shortNum(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", math.Round(v/1e4)/100)
	case v >= 1e3:
		return fmt.Sprintf("%gk", math.Round(v/10)/100)
	}
	return fmt.Sprintf("%g", math.Round(v*100)/100)
}
