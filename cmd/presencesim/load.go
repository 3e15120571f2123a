// load.go is the clients' behaviour over time: how many of them are online
// (a ramp-up, then a wave), which channels they are in (a few big lobbies
// and many small rooms: channel popularity follows Zipf's law), and the
// pools of online and offline clients that sessions start from and end in.

package main

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// onlineTarget returns how many clients are online at simulated time t:
// Online × UUIDs at the peak, reached by a smooth ramp-up over RampUp,
// times a wave of period WavePeriod (zero: the run's duration) that is 1 at
// its start and end and 1 − Wave at its middle.
func (cfg *Config) onlineTarget(t time.Duration) float64 {
	f := 1.0
	if cfg.RampUp > 0 && t < cfg.RampUp {
		x := float64(t) / float64(cfg.RampUp)
		f = x * x * (3 - 2*x) // smoothstep: arrivals are fastest mid-ramp
	}
	period := cfg.WavePeriod
	if period <= 0 {
		period = cfg.Duration
	}
	f *= 1 - cfg.Wave*(1-math.Cos(2*math.Pi*float64(t)/float64(period)))/2
	return cfg.Online * float64(cfg.UUIDs) * f
}

// channelPicker draws channels by popularity: channel i (0-based rank) has
// weight 1/(i+1)^skew, so skew 0 is uniform and skew 1 gives the first
// channel about a tenth of all memberships over 10,000 channels.
type channelPicker struct {
	cum []float64 // cumulative weights
}

func newChannelPicker(n int, skew float64) *channelPicker {
	p := &channelPicker{cum: make([]float64, n)}
	sum := 0.0
	for i := range p.cum {
		sum += math.Pow(float64(i+1), -skew)
		p.cum[i] = sum
	}
	return p
}

// pick returns a channel index.
func (p *channelPicker) pick(r *rand.Rand) int {
	x := r.Float64() * p.cum[len(p.cum)-1]
	return min(sort.SearchFloat64s(p.cum, x), len(p.cum)-1)
}

// pickDistinct returns n distinct channel indexes by popularity; a draw
// that repeats one already chosen is replaced by a uniform draw, so that
// n close to the number of channels still ends quickly.
func (p *channelPicker) pickDistinct(r *rand.Rand, n int) []int {
	out := make([]int, 0, n)
	has := func(c int) bool {
		for _, o := range out {
			if o == c {
				return true
			}
		}
		return false
	}
	for len(out) < n {
		c := p.pick(r)
		for has(c) {
			c = r.IntN(len(p.cum))
		}
		out = append(out, c)
	}
	return out
}

// watchedRanks returns the channels the chart follows: n ranks spread
// geometrically from the most popular channel to the least, so that the
// default run shows a big lobby, a mid-sized room and a small room.
func watchedRanks(channels, n int) []int {
	n = min(n, channels)
	if n <= 0 {
		return nil
	}
	if n == 1 {
		return []int{0}
	}
	var out []int
	for j := 0; j < n; j++ {
		r := int(math.Round(math.Pow(float64(channels), float64(j)/float64(n-1)))) - 1
		if len(out) > 0 && r <= out[len(out)-1] {
			r = out[len(out)-1] + 1
		}
		out = append(out, min(r, channels-1))
	}
	return out
}

// pool is a set of clients with O(1) insertion, removal and random choice;
// pos holds each client's index in its pool.
type pool struct {
	ids []int32
	pos []int32 // shared by the online and offline pools: a client is in one
}

func (p *pool) add(i int32) {
	p.pos[i] = int32(len(p.ids))
	p.ids = append(p.ids, i)
}

func (p *pool) remove(i int32) {
	j := p.pos[i]
	last := p.ids[len(p.ids)-1]
	p.ids[j], p.pos[last] = last, j
	p.ids = p.ids[:len(p.ids)-1]
}

// take removes and returns a random client of the pool, which must not be
// empty.
func (p *pool) take(r *rand.Rand) int32 {
	i := p.ids[r.IntN(len(p.ids))]
	p.remove(i)
	return i
}
