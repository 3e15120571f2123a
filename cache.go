// cache.go holds the optional here_now cache (Config.HereNowCacheTTL): an
// LRU bounded by entry count, timed by the engine's clock, so a cached
// answer is at most TTL stale. Answers are copied in and out.

package presence

import (
	"slices"
	"strconv"
)

type cachedHereNow struct {
	res     HereNowResult
	expires int64 // engine time (ns)
	gen     uint64
}

// cacheKey identifies a normalized query. Every name is written with its
// length before it, so no name (a '|' or a digit in it included) can be
// read as a separator: two different queries never share a key.
func cacheKey(q HereNowQuery) string {
	b := make([]byte, 0, 32)
	list := func(tag byte, names []string) {
		b = append(b, tag)
		b = strconv.AppendInt(b, int64(len(names)), 10)
		for _, n := range names {
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(len(n)), 10)
			b = append(b, ':')
			b = append(b, n...)
		}
	}
	list('c', q.Channels)
	list('g', q.Groups)
	b = append(b, 'o')
	b = strconv.AppendBool(b, q.OccupancyOnly)
	b = append(b, 's')
	b = strconv.AppendBool(b, q.IncludeState)
	b = append(b, 'l')
	b = strconv.AppendInt(b, int64(q.Limit), 10)
	b = append(b, 'f')
	b = strconv.AppendInt(b, int64(q.Offset), 10)
	return string(b)
}

// cacheGen returns the generation of the group table, which every group
// edit bumps: a here_now reads it before it expands its groups, and stores
// its answer with it.
func (e *Engine) cacheGen() uint64 { return e.groupGen.Load() }

// cachedHereNow returns a copy of the cached answer of key, unless it has
// expired or was computed before the last group edit.
func (e *Engine) cachedHereNow(key string) (HereNowResult, bool) {
	c, ok := e.cache.Get(key)
	if !ok {
		return HereNowResult{}, false
	}
	if e.now().ns >= c.expires || c.gen != e.cacheGen() {
		e.cache.Remove(key)
		return HereNowResult{}, false
	}
	return c.res.clone(), true
}

// storeHereNow caches a copy of res, computed from the group table of
// generation gen. An edit since then makes the entry a miss: an answer that
// raced an edit never serves the old expansion after the edit returned.
func (e *Engine) storeHereNow(key string, gen uint64, res HereNowResult) {
	exp := satAdd(e.now().ns, int64(e.cfg.HereNowCacheTTL))
	e.cache.Add(key, cachedHereNow{res: res.clone(), expires: exp, gen: gen})
}

// invalidateHereNow drops cached answers after a group edit, whose
// expansion they depend on, and moves the generation on, so that an answer
// computed before the edit and stored after it is never served. Caller
// holds groups.mu.
func (e *Engine) invalidateHereNow() {
	e.groupGen.Add(1)
	if e.cache != nil {
		e.cache.Purge()
	}
}

func (r HereNowResult) clone() HereNowResult {
	r.Channels = slices.Clone(r.Channels)
	for i := range r.Channels {
		occ := slices.Clone(r.Channels[i].Occupants)
		for j := range occ {
			occ[j].State = slices.Clone(occ[j].State)
		}
		r.Channels[i].Occupants = occ
	}
	return r
}
