// keys.go holds the key layout and the Lua scripts. Every key of a channel,
// a uuid's where_now index in a partition, and a partition's event stream
// share the partition's hash tag, so each script touches one Redis Cluster
// slot. The layout, for partition n (base = Prefix + "{n}"):
//
//	base:meta        hash   epoch, seq (events so far), th/tl (last timetoken), hold, gseq, barriers
//	base:ev          stream the partition's events, one field "e"
//	base:dl          zset   "channel\nuuid" → deadline (whole µs): every membership
//	base:dlr         hash   "channel\nuuid" → the deadline's ns within its µs (absent: 0)
//	base:chans       set    occupied channels
//	base:uuids       set    uuids present on a channel of the partition
//	base:m:<channel> zset   the channel's uuids (score 0: byte order, for paging)
//	base:s:<channel> hash   uuid → canonical state
//	base:u:<uuid>    set    the uuid's channels in the partition (where_now)
//	base:pend        hash   "channel\nuuid" → pending state
//	base:pdl         zset   "channel\nuuid" → pending expiry (whole µs)
//	base:pdlr        hash   "channel\nuuid" → the expiry's ns within its µs (absent: 0)
//	base:ivz         zset   channels in interval mode → next tick (whole µs)
//	base:ivr         hash   channel → its ticks' ns within their µs (absent: 0)
//	base:iv:<channel>  hash deltas size and here_now_refresh flag
//	base:ivd:<channel> string the deltas since the last interval event
//	base:cg:<channel>  set  groups containing the channel (read by events)
//	base:g:<group>   zset   the group's channels in the partition, by order added
//	base:groups      set    the groups with a channel in the partition
//	base:op:<id>     string a SetState already applied (expires after 2 min)
//
// A channel's partition is crc32(channel) mod Partitions. A group has no
// partition of its own: each partition holds the group's channels that
// belong to it, next to their index entries (base:cg), so one script
// changes both; the group's order counter (gseq) is in the partition of
// its name.

package presenceredis

import (
	"context"
	"embed"
	"hash/crc32"
	"strconv"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFS embed.FS

func mustLua(name string) string {
	b, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// script returns the script whose body is lua/<name>.lua after the
// prelude, base.lua and common.lua.
func script(name string) *redis.Script {
	return redis.NewScript(mustLua("base") + "\n" + mustLua("common") + "\n" + mustLua(name))
}

// Two scripts skip common.lua, whose helpers cost Redis more to set up on
// every run (tens of closures) than a refresh or a page read costs: here_now
// needs only base.lua, and the heartbeat sets common.lua up only when a
// heartbeat is more than a refresh, in slow (heartbeatfast.lua).
var (
	scriptHeartbeat = redis.NewScript(mustLua("base") + "\nlocal function slow(i)\n" + mustLua("common") + "\n" +
		mustLua("heartbeat") + "\nend\n" + mustLua("heartbeatfast"))
	scriptHereNow = redis.NewScript(mustLua("base") + "\n" + mustLua("herenow"))
)

var (
	scriptLeave       = script("leave")
	scriptSetState    = script("setstate")
	scriptGetState    = script("getstate")
	scriptSweep       = script("sweep")
	scriptWhereNow    = script("wherenow")
	scriptCheck       = script("check")
	scriptHold        = script("hold")
	scriptPosition    = script("position")
	scriptGroupAdd    = script("groupadd")
	scriptGroupRemove = script("groupremove")

	allScripts = []*redis.Script{scriptHeartbeat, scriptLeave, scriptSetState, scriptGetState, scriptSweep,
		scriptHereNow, scriptWhereNow, scriptCheck, scriptHold, scriptPosition, scriptGroupAdd, scriptGroupRemove}
)

// partitionOf returns the partition of a channel or group name.
func (b *Backend) partitionOf(name string) int {
	if len(b.bases) == 1 {
		return 0
	}
	return int(crc32.ChecksumIEEE([]byte(name)) % uint32(len(b.bases)))
}

func makeBases(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + "{" + strconv.Itoa(i) + "}"
	}
	return out
}

func (b *Backend) keyMembers(p int, channel string) string { return b.bases[p] + ":m:" + channel }
func (b *Backend) keyGroup(p int, group string) string     { return b.bases[p] + ":g:" + group }
func (b *Backend) keyStream(p int) string                  { return b.bases[p] + ":ev" }

// loadScripts loads the scripts missing from Redis's script cache (on every
// master of a cluster), so pipelines can use EVALSHA.
func loadScripts(ctx context.Context, c redis.UniversalClient) error {
	hashes := make([]string, len(allScripts))
	for i, s := range allScripts {
		hashes[i] = s.Hash()
	}
	have, err := c.ScriptExists(ctx, hashes...).Result()
	if err != nil {
		return err
	}
	for i, s := range allScripts {
		if i < len(have) && have[i] {
			continue
		}
		if err := s.Load(ctx, c).Err(); err != nil {
			return err
		}
	}
	return nil
}
