// logging.go builds presenced's log/slog logger from -log-format and
// -log-level, and lists the configuration it logs at start without its
// secrets.

package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
)

// newLogger returns a logger writing to w in format ("text" or "json") at
// level ("debug", "info", "warn" or "error").
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	switch level {
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("invalid -log-level %q: must be debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid -log-format %q: must be text or json", format)
}

// secretFlag reports whether a flag's value must never be logged.
func secretFlag(name string) bool {
	for _, s := range []string{"secret", "password", "token", "auth"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// configAttrs returns every flag's effective value as a log attribute,
// with secret flags left out and passwords in URLs redacted.
func configAttrs(fs *flag.FlagSet) []any {
	var attrs []any
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "version" {
			return
		}
		v := f.Value.String()
		if secretFlag(f.Name) {
			if v != "" {
				v = "(set)"
			}
		} else if u, err := url.Parse(v); err == nil && u.User != nil {
			v = u.Redacted()
		}
		attrs = append(attrs, slog.String(f.Name, v))
	})
	return []any{slog.Group("config", attrs...)}
}

// lineLogger is an io.Writer that logs each line written to it as an info
// record, for code that reports to a writer (the access setup's notice).
type lineLogger struct{ log *slog.Logger }

func (l lineLogger) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line = strings.TrimPrefix(line, "presenced: "); line != "" {
			l.log.Info(line)
		}
	}
	return len(p), nil
}
