// groups.go holds the channel-registration API: add and remove channels
// (?add=, ?remove=), list a group's channels, list groups, delete a group.
// Responses use the "channel-registry" service and a boolean "error".

package pubnubhttp

import (
	"context"
	"net/http"
)

// listGroups answers the list of every group.
func (h *Handler) listGroups(ctx context.Context, w http.ResponseWriter, req *request) error {
	groups, err := h.b.Groups(ctx)
	if err != nil {
		return err
	}
	writeOK(w, serviceRegistry, obj{"payload": obj{"groups": groups, "sub_key": req.subKey}})
	return nil
}

// editGroup answers ?add=, ?remove= or, with neither, the group's channels.
func (h *Handler) editGroup(ctx context.Context, w http.ResponseWriter, req *request) error {
	var err error
	switch {
	case req.query.has("add"):
		err = h.b.AddChannels(ctx, req.group, req.query.list("add"))
	case req.query.has("remove"):
		err = h.b.RemoveChannels(ctx, req.group, req.query.list("remove"))
	default:
		chans, err := h.b.GroupChannels(ctx, req.group)
		if err != nil {
			return err
		}
		writeOK(w, serviceRegistry, obj{"payload": obj{"channels": chans, "group": req.group}})
		return nil
	}
	if err != nil {
		return err
	}
	h.groupVersion.Add(1)
	writeOK(w, serviceRegistry, nil)
	return nil
}

// deleteGroup answers the deletion of a group.
func (h *Handler) deleteGroup(ctx context.Context, w http.ResponseWriter, req *request) error {
	if err := h.b.DeleteGroup(ctx, req.group); err != nil {
		return err
	}
	h.groupVersion.Add(1)
	writeOK(w, serviceRegistry, nil)
	return nil
}
