// groups.go holds channel groups. A group's channels are kept in the
// partition of each channel (keys.go): in partition p, the sorted set
// base:g:<group> holds the group's channels that hash to p (scored by order
// added) and, next to it, the set base:cg:<channel> holds the groups of each
// channel of p, which the event scripts read so that every event carries
// the groups of its channel at the moment it happened. Both change in one
// script, so they always agree: a group edit is one atomic script per
// partition it touches (one script in all with a single partition), and an
// edit cut short by a lost connection or a crashed instance has changed the
// group in some partitions and not in others, as a smaller edit would have;
// repeating it completes it.

package presenceredis

import (
	"context"
	"errors"
	"slices"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/internal/rules"
	"github.com/redis/go-redis/v9"
)

func (b *Backend) checkGroupEdit(g string, channels []string) error {
	if err := b.checkName("group", g, true); err != nil {
		return err
	}
	for _, c := range channels {
		if err := b.checkName("channel", c, true); err != nil {
			return err
		}
	}
	if n := rules.Distinct(channels); n > b.cfg.MaxGroupEdit {
		return newError(presence.ErrTooManyChannels, "too many channels: %d in one edit of group %q, at most %d", n, g, b.cfg.MaxGroupEdit)
	}
	return nil
}

// AddChannels adds channels to group g, creating it, as
// presence.Engine.AddChannels does (ErrTooManyChannels, ErrGroupFull; a
// refused add changes nothing). Adding a channel joins nobody.
//
// With one partition the add is one atomic script that also checks
// MaxGroupChannels. With several, the group's size is read first and each
// partition's part of the add is one atomic script: two adds to one group
// racing each other may together take it past MaxGroupChannels by at most
// the channels they add.
func (b *Backend) AddChannels(ctx context.Context, g string, channels []string) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	if err := b.checkGroupEdit(g, channels); err != nil {
		return err
	}
	channels = rules.Dedup(nil, channels)
	if len(channels) == 0 {
		return nil
	}
	now := b.clock.Now()
	if len(b.bases) == 1 {
		args := append(b.common(now), g, b.cfg.MaxGroupChannels)
		for _, c := range channels {
			args = append(args, c, "")
		}
		out, err := b.run(ctx, "group_add", []call{{scriptGroupAdd, 0, args}})
		if err != nil {
			return err
		}
		l, _ := out[0].([]any)
		if len(l) < 3 {
			return shortReply("group_add")
		}
		if l[0] == int64(-1) {
			return b.groupFull(g, l[1], l[2])
		}
		return nil
	}
	have, fresh, first, err := b.groupSize(ctx, g, channels)
	if err != nil {
		return err
	}
	if have+fresh > b.cfg.MaxGroupChannels {
		return b.groupFull(g, have, fresh)
	}
	parts, idx := b.byPartition(channels)
	calls := make([]call, len(parts))
	for j, p := range parts {
		args := append(b.common(now), g, 0)
		for _, i := range idx[j] {
			args = append(args, channels[i], first+int64(i))
		}
		calls[j] = call{scriptGroupAdd, p, args}
	}
	_, err = b.run(ctx, "group_add", calls)
	return err
}

func (b *Backend) groupFull(g string, have, fresh any) error {
	return newError(presence.ErrGroupFull, "group %q full: %d channels plus %d new, at most %d", g, have, fresh, b.cfg.MaxGroupChannels)
}

// groupSize returns, for an add of channels to g over several partitions,
// the group's size, how many of channels it lacks, and the first of
// len(channels) order numbers reserved for them in the group's own
// partition.
func (b *Backend) groupSize(ctx context.Context, g string, channels []string) (have, fresh int, first int64, err error) {
	parts, idx := b.byPartition(channels)
	sizes := make([]*redis.IntCmd, len(b.bases))
	scores := make([]*redis.FloatSliceCmd, len(parts))
	var seq *redis.IntCmd
	err = b.do(ctx, "group_read", 0, func(ctx context.Context) error {
		pipe := b.client.Pipeline()
		for p := range b.bases {
			sizes[p] = pipe.ZCard(ctx, b.keyGroup(p, g))
		}
		for j, p := range parts {
			members := make([]string, len(idx[j]))
			for k, i := range idx[j] {
				members[k] = channels[i]
			}
			scores[j] = pipe.ZMScore(ctx, b.keyGroup(p, g), members...)
		}
		seq = pipe.HIncrBy(ctx, b.bases[b.partitionOf(g)]+":meta", "gseq", int64(len(channels)))
		_, err := pipe.Exec(ctx)
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	for _, c := range sizes {
		have += int(c.Val())
	}
	for _, c := range scores {
		for _, s := range c.Val() {
			if s == 0 { // ZMSCORE's nil: not in the group
				fresh++
			}
		}
	}
	return have, fresh, seq.Val() - int64(len(channels)) + 1, nil
}

// RemoveChannels removes channels from group g; channels not in it are
// ignored, and a group left empty no longer exists. Each partition's part
// is one atomic script.
func (b *Backend) RemoveChannels(ctx context.Context, g string, channels []string) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	if err := b.checkGroupEdit(g, channels); err != nil {
		return err
	}
	if len(channels) == 0 {
		return nil
	}
	_, err := b.run(ctx, "group_remove", b.channelCalls(scriptGroupRemove, b.clock.Now(), channels, g, "0"))
	return err
}

// DeleteGroup removes group g; deleting a group that does not exist is not
// an error. Each partition's part is one atomic script.
func (b *Backend) DeleteGroup(ctx context.Context, g string) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	if err := b.checkName("group", g, true); err != nil {
		return err
	}
	now := b.clock.Now()
	calls := make([]call, len(b.bases))
	for p := range b.bases {
		calls[p] = call{scriptGroupRemove, p, append(b.common(now), g, "1")}
	}
	_, err := b.run(ctx, "group_remove", calls)
	return err
}

// readGroups reads the channels of each group into out, in the order
// added.
func (b *Backend) readGroups(ctx context.Context, groups []string, out [][]string) error {
	pipe := b.client.Pipeline()
	cmds := make([][]*redis.ZSliceCmd, len(groups))
	for i, g := range groups {
		cmds[i] = make([]*redis.ZSliceCmd, len(b.bases))
		for p := range b.bases {
			cmds[i][p] = pipe.ZRangeWithScores(ctx, b.keyGroup(p, g), 0, -1)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	for i := range groups {
		if len(b.bases) == 1 {
			for _, z := range cmds[i][0].Val() {
				out[i] = append(out[i], z.Member.(string))
			}
			continue
		}
		var all []redis.Z
		for _, c := range cmds[i] {
			all = append(all, c.Val()...)
		}
		slices.SortFunc(all, func(x, y redis.Z) int {
			switch {
			case x.Score < y.Score:
				return -1
			case x.Score > y.Score:
				return 1
			}
			return 0
		})
		for _, z := range all {
			out[i] = append(out[i], z.Member.(string))
		}
	}
	return nil
}

// GroupChannels returns the channels of group g, sorted; a group that does
// not exist lists as empty. The slice is the caller's.
func (b *Backend) GroupChannels(ctx context.Context, g string) ([]string, error) {
	if err := b.isClosed(); err != nil {
		return nil, err
	}
	if err := b.checkName("group", g, true); err != nil {
		return nil, err
	}
	l, err := b.groupLists(ctx, []string{g})
	if err != nil {
		return nil, err
	}
	out := l[0]
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out, nil
}

// Groups returns the names of every group, sorted. The slice is the
// caller's.
func (b *Backend) Groups(ctx context.Context) ([]string, error) {
	if err := b.isClosed(); err != nil {
		return nil, err
	}
	return b.union(ctx, "groups", ":groups")
}
