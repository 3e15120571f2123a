// cache.go holds the optional here_now cache (Config.HereNowCacheTTL): an
// LRU bounded by entry count, timed by the engine's clock, so a cached
// answer is at most TTL stale. Answers are copied in and out.

package presence

import (
	"slices"
	"strconv"
	"strings"
)

type cachedHereNow struct {
	res     HereNowResult
	expires int64
}

// cacheKey identifies a normalized query.
func cacheKey(q HereNowQuery) string {
	var b strings.Builder
	b.WriteString(strings.Join(q.Channels, ","))
	b.WriteByte('|')
	b.WriteString(strings.Join(q.Groups, ","))
	b.WriteByte('|')
	b.WriteString(strconv.FormatBool(q.OccupancyOnly))
	b.WriteString(strconv.FormatBool(q.IncludeState))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(q.Limit))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(q.Offset))
	return b.String()
}

func (e *Engine) cachedHereNow(key string) (HereNowResult, bool) {
	c, ok := e.cache.Get(key)
	if !ok {
		return HereNowResult{}, false
	}
	if e.clock.Now().UnixNano() >= c.expires {
		e.cache.Remove(key)
		return HereNowResult{}, false
	}
	return c.res.clone(), true
}

func (e *Engine) storeHereNow(key string, res HereNowResult) {
	exp := e.clock.Now().Add(e.cfg.HereNowCacheTTL).UnixNano()
	e.cache.Add(key, cachedHereNow{res: res.clone(), expires: exp})
}

// invalidateHereNow drops cached answers after a group edit, whose
// expansion they depend on.
func (e *Engine) invalidateHereNow() {
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
