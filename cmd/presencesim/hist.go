package main

import (
	"math/bits"
	"time"
)

// hist is a log-linear latency histogram: each power of two of nanoseconds
// is split in 16 buckets, so a quantile is within 1/16 of the true value.
// The zero value is empty.
type hist struct {
	counts [64 * 16]uint64
	n      uint64
	max    int64
}

func bucketOf(ns int64) int {
	if ns < 16 {
		return int(max(ns, 0))
	}
	e := bits.Len64(uint64(ns)) - 1 // ns in [2^e, 2^(e+1))
	m := int(uint64(ns)>>(e-4)) & 15
	return e*16 + m
}

// upper returns the largest value of bucket b.
func upper(b int) int64 {
	if b < 16 {
		return int64(b)
	}
	e, m := b/16, b%16
	return int64(16+m+1)<<(e-4) - 1
}

func (h *hist) add(d time.Duration) {
	ns := int64(d)
	h.counts[bucketOf(ns)]++
	h.n++
	h.max = max(h.max, ns)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the upper bound of the bucket holding quantile q, capped
// at the largest value seen; zero when empty.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for b, c := range h.counts {
		if seen += c; seen >= rank {
			return time.Duration(min(upper(b), h.max))
		}
	}
	return time.Duration(h.max)
}
