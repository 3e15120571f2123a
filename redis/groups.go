// groups.go holds channel groups. A group is a sorted set (by order added)
// in its own partition; each channel keeps, in its partition, the set of
// groups containing it, which the event scripts read so that every event
// carries the groups of its channel at the moment it happened. A group edit
// first changes the group (one atomic script), then those reverse entries
// of every channel it names, so repeating an edit that an instance crash
// cut short repairs them.

package presenceredis

import (
	"context"
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
func (b *Backend) AddChannels(ctx context.Context, g string, channels []string) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	if err := b.checkGroupEdit(g, channels); err != nil {
		return err
	}
	args := append(b.common(b.clock.Now()), g, b.cfg.MaxGroupChannels)
	for _, c := range channels {
		args = append(args, c)
	}
	out, err := b.run(ctx, "group_add", []call{{scriptGroupAdd, b.partitionOf(g), args}})
	if err != nil {
		return err
	}
	l, _ := out[0].([]any)
	if len(l) < 3 {
		return shortReply("group_add")
	}
	if l[0] == int64(-1) {
		return newError(presence.ErrGroupFull, "group %q full: %d channels plus %d new, at most %d", g, l[1], l[2], b.cfg.MaxGroupChannels)
	}
	// every channel named, not only the new ones: repeating an edit repairs
	// the entries of one that stopped half way (an instance crashed)
	return b.index(ctx, g, channels, true)
}

// RemoveChannels removes channels from group g; channels not in it are
// ignored, and a group left empty no longer exists.
func (b *Backend) RemoveChannels(ctx context.Context, g string, channels []string) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	if err := b.checkGroupEdit(g, channels); err != nil {
		return err
	}
	args := append(b.common(b.clock.Now()), g, "0")
	for _, c := range channels {
		args = append(args, c)
	}
	if _, err := b.run(ctx, "group_remove", []call{{scriptGroupRemove, b.partitionOf(g), args}}); err != nil {
		return err
	}
	return b.index(ctx, g, channels, false)
}

// DeleteGroup removes group g; deleting a group that does not exist is not
// an error.
func (b *Backend) DeleteGroup(ctx context.Context, g string) error {
	if err := b.isClosed(); err != nil {
		return err
	}
	if err := b.checkName("group", g, true); err != nil {
		return err
	}
	out, err := b.run(ctx, "group_remove", []call{{scriptGroupRemove, b.partitionOf(g), append(b.common(b.clock.Now()), g, "1")}})
	if err != nil {
		return err
	}
	l, _ := out[0].([]any)
	chans := make([]string, len(l))
	for i, v := range l {
		chans[i], _ = v.(string)
	}
	return b.index(ctx, g, chans, false)
}

// index adds g to (or removes it from) the reverse entry of each channel.
func (b *Backend) index(ctx context.Context, g string, channels []string, add bool) error {
	if len(channels) == 0 {
		return nil
	}
	return b.do(ctx, "group_index", 0, func(ctx context.Context) error {
		pipe := b.client.Pipeline()
		for _, c := range channels {
			k := b.keyChanGroups(b.partitionOf(c), c)
			if add {
				pipe.SAdd(ctx, k, g)
			} else {
				pipe.SRem(ctx, k, g)
			}
		}
		_, err := pipe.Exec(ctx)
		return err
	})
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
	out := []string{}
	err := b.do(ctx, "groups", 0, func(ctx context.Context) error {
		pipe := b.client.Pipeline()
		cmds := make([]*redis.StringSliceCmd, len(b.bases))
		for p, base := range b.bases {
			cmds[p] = pipe.SMembers(ctx, base+":groups")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for _, c := range cmds {
			out = append(out, c.Val()...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// readGroups reads the channels of each group into out, in the order
// added.
func (b *Backend) readGroups(ctx context.Context, groups []string, out [][]string) error {
	pipe := b.client.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(groups))
	for i, g := range groups {
		cmds[i] = pipe.ZRange(ctx, b.keyGroup(b.partitionOf(g), g), 0, -1)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return err
	}
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return nil
}
