// envelope.go writes responses in PubNub's envelopes: the success envelope
// {"status":200,"message":"OK","service":…}, the error envelope
// {"status":4xx,"error":1,"message":…,"service":…}, and the mapping from the
// engine's sentinel errors to HTTP statuses and messages.

package pubnubhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/presencekit/presence"
)

const (
	servicePresence = "Presence"
	serviceRegistry = "channel-registry"
	serviceTime     = "Time"
)

// obj is a JSON object under construction; encoding/json writes its keys
// sorted, which PubNub's clients accept (real responses have no fixed order).
type obj = map[string]any

// writeJSON writes v with PubNub's headers. Strings are written as they
// are: '<', '>' and '&' are not HTML-escaped (a state holding them comes
// back as it was set, not six times longer).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		// Only values built by this package are written; a failure is a bug.
		status = http.StatusInternalServerError
		b = []byte(`{"status":500,"error":1,"message":"Internal Server Error","service":"Presence"}`)
	}
	writeBody(w, status, b, strconv.Itoa(len(b)))
}

// writeBody writes the JSON body b, of Content-Length length, with
// PubNub's headers. The header values share one allocation; each is a
// slice of its own capacity, so that a later Add to one reallocates it
// rather than overwriting the next.
func writeBody(w http.ResponseWriter, status int, b []byte, length string) {
	v := make([]string, 6)
	v[0], v[1], v[2], v[3], v[4], v[5] = `text/javascript; charset="UTF-8"`, "no-cache", "*", "GET", "Pubnub Presence", length
	h := w.Header()
	// The keys are canonical: assigning them is what Set does.
	h["Content-Type"] = v[0:1:1]
	h["Cache-Control"] = v[1:2:2]
	h["Access-Control-Allow-Origin"] = v[2:3:3]
	h["Access-Control-Allow-Methods"] = v[3:4:4]
	h["Server"] = v[4:5:5]
	h["Content-Length"] = v[5:6:6]
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// encoded is a response body encoded once, with its Content-Length.
type encoded struct {
	body   []byte
	length string
}

func mustEncode(v any) encoded {
	b, err := marshal(v)
	if err != nil {
		panic(err)
	}
	return encoded{b, strconv.Itoa(len(b))}
}

// The success envelopes without extra fields, encoded once: writeOK of a
// service and no extra writes these bytes, the ones it would encode.
var (
	okPresence = mustEncode(okEnvelope(servicePresence, nil))
	okRegistry = mustEncode(okEnvelope(serviceRegistry, nil))
)

// marshal is json.Marshal without HTML escaping (json.RawMessage values
// included) and without the Encoder's trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// writeOK writes the success envelope of service plus the fields of extra.
func writeOK(w http.ResponseWriter, service string, extra obj) {
	if extra == nil {
		switch service {
		case servicePresence:
			writeBody(w, http.StatusOK, okPresence.body, okPresence.length)
			return
		case serviceRegistry:
			writeBody(w, http.StatusOK, okRegistry.body, okRegistry.length)
			return
		}
	}
	writeJSON(w, http.StatusOK, okEnvelope(service, extra))
}

// okEnvelope returns the success envelope of service plus the fields of
// extra.
func okEnvelope(service string, extra obj) obj {
	body := obj{"status": 200, "message": "OK", "service": service}
	if service == serviceRegistry {
		body["error"] = false
	}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

// apiError is an error answered with PubNub's error envelope.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(msg string) *apiError { return &apiError{http.StatusBadRequest, msg} }

// writeError writes err in the error envelope of service. Engine errors are
// mapped by errorStatus; an *apiError keeps its own status; an
// *AccessDenied is written in the Access Manager envelope.
func writeError(w http.ResponseWriter, service string, err error) {
	var denied *AccessDenied
	if errors.As(err, &denied) {
		writeJSON(w, denied.status(), denied.body())
		return
	}
	status, msg := errorStatus(err)
	body := obj{"status": status, "message": msg, "service": service}
	if service == serviceRegistry {
		body["error"] = true
	} else {
		body["error"] = 1
	}
	writeJSON(w, status, body)
}

// errorStatus maps an error to its HTTP status and message. Every input
// error of the backend is a 400 naming the value and the rule; a closed
// backend, or one that could not answer in time (ErrUnavailable), is 503.
func errorStatus(err error) (int, string) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.message
	case errors.Is(err, presence.ErrInvalidState):
		return http.StatusBadRequest, "Invalid JSON specified. " + err.Error()
	case errors.Is(err, presence.ErrInvalidName),
		errors.Is(err, presence.ErrTooManyNames),
		errors.Is(err, presence.ErrStateTooLarge),
		errors.Is(err, presence.ErrInvalidTimeout),
		errors.Is(err, presence.ErrInvalidPaging),
		errors.Is(err, presence.ErrTooManyChannels),
		errors.Is(err, presence.ErrGroupFull),
		errors.Is(err, presence.ErrNoTargets):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, presence.ErrClosed):
		return http.StatusServiceUnavailable, "Service Unavailable"
	case errors.Is(err, presence.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		// The cause (a store address, a driver message) stays on the
		// server: the client learns only that it should retry.
		return http.StatusServiceUnavailable, "Service Unavailable: the presence store did not answer in time"
	}
	return http.StatusInternalServerError, "Internal Server Error"
}
