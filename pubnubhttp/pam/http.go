// http.go holds the Access Manager REST endpoints a server SDK calls with the
// secret key: grant (POST /v3/pam/{sub_key}/grant, a JSON body as the SDKs'
// grantToken send it) and revoke (DELETE /v3/pam/{sub_key}/grant/{token}),
// their envelopes, and Wrap, which routes them in front of a presence
// handler.

package pam

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/presencekit/presence/pubnubhttp/internal/reqtarget"
)

// MaxGrantBytes bounds the body of a grant request.
const MaxGrantBytes = 1 << 20

const pathPrefix = "/v3/pam/"

// Wrap returns a handler that serves the Access Manager endpoints (paths
// under /v3/pam/) with m and every other request with next, typically a
// pubnubhttp.Handler whose Options.Authorizer is m.
func (m *Manager) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, pathPrefix) {
			m.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP answers grant and revoke. Both must name the Manager's sub key
// and be signed with its secret key (signature v2, timestamp within the
// skew window). Grant answers
//
//	{"status":200,"data":{"message":"Success","token":"..."},"service":"Access Manager"}
//
// and revoke {"status":200,"data":{},"service":"Access Manager"}; errors
// use the v3 envelope {"status":4xx,"error":{"message":...,"source":"grant"},
// "service":"Access Manager"}.
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, rawQuery := reqtarget.Split(requestURI(r))
	seg := strings.Split(strings.TrimPrefix(path, pathPrefix), "/")
	if !strings.HasPrefix(path, pathPrefix) || len(seg) < 2 || len(seg) > 3 || seg[1] != "grant" {
		writeError(w, http.StatusNotFound, "access", "Not Found: no Access Manager call at "+strconv.Quote(path))
		return
	}
	source, method := "grant", http.MethodPost
	if len(seg) == 3 {
		source, method = "revoke", http.MethodDelete
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeError(w, http.StatusMethodNotAllowed, source, "Method Not Allowed: "+strconv.Quote(r.Method)+", only "+method)
		return
	}
	if reqtarget.Unescape(seg[0]) != m.keys.SubscribeKey {
		writeError(w, http.StatusBadRequest, source, "Invalid Subscribe Key")
		return
	}
	if m.keys.SecretKey == "" {
		writeError(w, http.StatusForbidden, source, "Forbidden: Access Manager is off (no secret key is configured)")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxGrantBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, source, "Bad Request: reading the body: "+err.Error())
		return
	}
	if len(body) > MaxGrantBytes {
		writeError(w, http.StatusRequestEntityTooLarge, source, "Request Entity Too Large: at most "+strconv.Itoa(MaxGrantBytes)+" bytes")
		return
	}
	signed, err := checkSignature(m.keys.SecretKey, m.keys.PublishKey,
		signedRequest{method: r.Method, path: path, rawQuery: rawQuery, body: body}, m.clock.Now(), m.skew)
	switch {
	case errors.Is(err, ErrBadTimestamp):
		writeError(w, http.StatusBadRequest, source, "Invalid Timestamp: "+strings.TrimPrefix(err.Error(), ErrBadTimestamp.Error()+": "))
		return
	case err != nil:
		writeError(w, http.StatusForbidden, source, "Signature Does Not Match")
		return
	case !signed:
		writeError(w, http.StatusForbidden, source, "Forbidden: Access Manager calls must be signed with the secret key")
		return
	}
	if source == "revoke" {
		if err := m.Revoke(r.Context(), reqtarget.Unescape(seg[2])); err != nil {
			if errors.Is(err, ErrInvalidToken) {
				writeError(w, http.StatusBadRequest, source, "Invalid token: "+err.Error())
				return
			}
			writeError(w, http.StatusServiceUnavailable, source, "Service Unavailable: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": 200, "data": map[string]any{}, "service": "Access Manager"})
		return
	}
	g, err := parseGrant(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, source, err.Error())
		return
	}
	token, err := m.Grant(r.Context(), g)
	if err != nil {
		writeError(w, http.StatusBadRequest, source, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status":  200,
		"data":    map[string]any{"message": "Success", "token": token},
		"service": "Access Manager",
	})
}

// grantBody is the JSON the SDKs' grantToken send.
type grantBody struct {
	TTL         *int `json:"ttl"`
	Permissions struct {
		Resources grantResources `json:"resources"`
		Patterns  grantResources `json:"patterns"`
		Meta      map[string]any `json:"meta"`
		UUID      string         `json:"uuid"`
	} `json:"permissions"`
}

type grantResources struct {
	Channels map[string]int64 `json:"channels"`
	Groups   map[string]int64 `json:"groups"`
	UUIDs    map[string]int64 `json:"uuids"`
	// users and spaces are the SDKs' older names of uuids and channels;
	// both SDKs send them empty and so are they read.
	Users  map[string]int64 `json:"users"`
	Spaces map[string]int64 `json:"spaces"`
}

// parseGrant reads a grant body into a Grant (not yet checked: Grant does).
func parseGrant(body []byte) (Grant, error) {
	var b grantBody
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&b); err != nil {
		return Grant{}, fmt.Errorf("%w: body is not the grant JSON: %v", ErrInvalidGrant, err)
	}
	if b.TTL == nil {
		return Grant{}, fmt.Errorf("%w: no ttl: a ttl of %d..%d minutes is required", ErrInvalidGrant, MinTTL, MaxTTL)
	}
	g := Grant{TTL: *b.TTL, AuthorizedUUID: b.Permissions.UUID}
	conv := func(r grantResources) (Resources, error) {
		var out Resources
		for _, kind := range []struct {
			name string
			in   []map[string]int64
			out  *map[string]Permission
		}{
			{"channel", []map[string]int64{r.Channels, r.Spaces}, &out.Channels},
			{"group", []map[string]int64{r.Groups}, &out.Groups},
			{"uuid", []map[string]int64{r.UUIDs, r.Users}, &out.UUIDs},
		} {
			for _, in := range kind.in {
				for name, bits := range in {
					if bits < 0 || bits > math.MaxUint8 {
						return out, fmt.Errorf("%w: %s %q: permission bits %d: must be 0..255", ErrInvalidGrant, kind.name, name, bits)
					}
					if *kind.out == nil {
						*kind.out = make(map[string]Permission)
					}
					(*kind.out)[name] |= Permission(bits)
				}
			}
		}
		return out, nil
	}
	var err error
	if g.Resources, err = conv(b.Permissions.Resources); err != nil {
		return g, err
	}
	if g.Patterns, err = conv(b.Permissions.Patterns); err != nil {
		return g, err
	}
	if len(b.Permissions.Meta) > 0 {
		g.Meta = make(map[string]any, len(b.Permissions.Meta))
		for k, v := range b.Permissions.Meta {
			if n, ok := v.(json.Number); ok {
				if i, err := n.Int64(); err == nil {
					v = i
				} else if f, err := n.Float64(); err == nil {
					v = f
				}
			}
			g.Meta[k] = v
		}
	}
	return g, nil
}

// writeError writes the v3 error envelope.
func writeError(w http.ResponseWriter, status int, source, msg string) {
	writeJSON(w, status, map[string]any{
		"status":  status,
		"error":   map[string]any{"message": msg, "source": source},
		"service": "Access Manager",
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"status":500,"error":{"message":"Internal Server Error","source":"access"},"service":"Access Manager"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
