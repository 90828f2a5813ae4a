package main

import (
	"io"
	"log/slog"
	"os"
	"strings"
)

// logger builds the process logger from the global flags.
func (g *globals) logger() (*slog.Logger, error) {
	return newLogger(os.Stderr, g.logFormat, g.logLevel)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: use text or json", format)
}

// brokerLogger is the logger for an embedded nats-server: its notices (a
// banner and a dozen lines at every start) are shown only at debug level;
// its warnings and errors always.
func (g *globals) brokerLogger() (*slog.Logger, error) {
	level := g.logLevel
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err == nil && lv > slog.LevelDebug && lv < slog.LevelWarn {
		level = "warn"
	}
	l, err := newLogger(os.Stderr, g.logFormat, level)
	if err != nil {
		return nil, err
	}
	return l.With("component", "broker"), nil
}
