package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// box is a rectangle: x0 ≤ x1, y0 ≤ y1.
type box struct{ x0, y0, x1, y1 float64 }

func (a box) overlaps(b box) bool { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 }

// checkLayout parses an SVG chart and reports what a reader would notice:
// text outside the picture (estimated with the layout's own width
// measure), text over a plot (a legend over the data), texts overlapping
// each other (a subtitle touching a panel's title), lines leaving their
// plot.
func checkLayout(r io.Reader) ([]string, error) {
	type text struct {
		b    box
		body string
	}
	var texts []text
	var plots []box
	var points [][2]float64
	var width, height float64
	var cur *text
	var size float64
	d := xml.NewDecoder(r)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			a := map[string]string{}
			for _, at := range t.Attr {
				a[at.Name.Local] = at.Value
			}
			num := func(k string) float64 { v, _ := strconv.ParseFloat(a[k], 64); return v }
			switch t.Name.Local {
			case "svg":
				width, height = num("width"), num("height")
			case "rect":
				if a["fill"] == "none" {
					plots = append(plots, box{num("x"), num("y"), num("x") + num("width"), num("y") + num("height")})
				}
			case "text":
				size = fontPx
				if a["font-size"] != "" {
					size = num("font-size")
				}
				cur = &text{b: box{x0: num("x"), y0: num("y") - 0.9*size, y1: num("y") + 0.2*size}, body: a["text-anchor"]}
			case "path":
				for _, f := range strings.FieldsFunc(a["d"], func(r rune) bool { return r == ' ' || r == 'M' || r == 'L' }) {
					if strings.HasPrefix(f, "l") {
						continue
					}
					var x, y float64
					if _, err := fmt.Sscanf(f, "%g,%g", &x, &y); err != nil {
						return nil, fmt.Errorf("path point %q: %v", f, err)
					}
					points = append(points, [2]float64{x, y})
				}
			}
		case xml.CharData:
			if cur != nil {
				w := textWidth(string(t), size)
				switch cur.body { // the anchor, until the text is known
				case "middle":
					cur.b.x0 -= w / 2
				case "end":
					cur.b.x0 -= w
				}
				cur.b.x1 = cur.b.x0 + w
				cur.body = string(t)
				texts = append(texts, *cur)
				cur = nil
			}
		}
	}
	var bad []string
	all := box{0, 0, width, height}
	for i, t := range texts {
		if t.b.x0 < all.x0 || t.b.x1 > all.x1 || t.b.y0 < all.y0 || t.b.y1 > all.y1 {
			bad = append(bad, fmt.Sprintf("text %q at %+v leaves the %gx%g picture", t.body, t.b, width, height))
		}
		for _, p := range plots {
			if t.b.overlaps(box{p.x0 + 1, p.y0 + 1, p.x1 - 1, p.y1 - 1}) {
				bad = append(bad, fmt.Sprintf("text %q at %+v is over the plot %+v", t.body, t.b, p))
			}
		}
		for _, u := range texts[i+1:] {
			if t.b.overlaps(u.b) {
				bad = append(bad, fmt.Sprintf("texts %q at %+v and %q at %+v overlap", t.body, t.b, u.body, u.b))
			}
		}
	}
	for _, pt := range points {
		in := false
		for _, p := range plots {
			in = in || (pt[0] >= p.x0 && pt[0] <= p.x1 && pt[1] >= p.y0 && pt[1] <= p.y1)
		}
		if !in {
			bad = append(bad, fmt.Sprintf("line point %v outside every plot", pt))
		}
	}
	if len(plots) == 0 || len(texts) == 0 {
		bad = append(bad, fmt.Sprintf("%d plots and %d texts, want some of each", len(plots), len(texts)))
	}
	return bad, nil
}

func TestSVGLayout(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"tiny":             func(*Config) {},
		"3 minutes":        func(c *Config) { c.Duration = 3 * time.Minute },
		"six watched":      func(c *Config) { c.Watch = 6 },
		"no interval mode": func(c *Config) { c.AnnounceMax = -1 },
		"every channel in interval mode, no deltas": func(c *Config) { c.AnnounceMax = -2; c.Deltas = false },
		"long settings": func(*Config) {},
	} {
		cfg := tiny()
		if name != "tiny" {
			cfg.Duration = 4 * time.Minute
		}
		mod(&cfg)
		rep, err := Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "long settings" { // only the text: the chart describes rep.Config
			c := &rep.Config
			c.UUIDs, c.Seed, c.Churn, c.Heartbeat = 123_456_789, 18446744073709551615, 0.0123456789, 1234567*time.Millisecond
		}
		var buf bytes.Buffer
		if err := writeSVG(&buf, rep); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		bad, err := checkLayout(&buf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, b := range bad {
			t.Errorf("%s: %s", name, b)
		}
	}
}

// golden is the run of the golden SVG: one worker makes it deterministic.
func golden() Config {
	cfg := tiny()
	cfg.Workers = 1
	cfg.Duration = 5 * time.Minute
	return cfg
}

func TestSVGGolden(t *testing.T) {
	var svgs [2][]byte
	for i := range svgs {
		rep, err := Run(context.Background(), golden(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := writeSVG(&buf, rep); err != nil {
			t.Fatal(err)
		}
		svgs[i] = buf.Bytes()
	}
	if !bytes.Equal(svgs[0], svgs[1]) {
		t.Fatalf("two runs of the same seed with one worker drew different SVGs:\n%s", firstDiff(svgs[0], svgs[1]))
	}
	path := filepath.Join("testdata", "chart.svg.golden")
	if *update {
		if err := os.WriteFile(path, svgs[0], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run TestSVGGolden -update writes it)", err)
	}
	if !bytes.Equal(svgs[0], want) {
		t.Errorf("SVG differs from %s (if the change is meant, rewrite it with go test -run TestSVGGolden -update and look at it):\n%s",
			path, firstDiff(svgs[0], want))
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\ngot  %.300s\nwant %.300s", i+1, gl, wl)
		}
	}
	return "(no difference)"
}
