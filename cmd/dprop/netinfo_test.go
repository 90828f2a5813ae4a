package main

import (
	"log/slog"
	"slices"
	"testing"
)

func TestPropagatorNotice(t *testing.T) {
	for _, tt := range []struct {
		name                     string
		inLog, running, declared []string
		level                    slog.Level
		names                    []string // nil: no notice
	}{
		{"no propagators in the log", nil, []string{"a"}, []string{"a"}, 0, nil},
		{"all run here", []string{"a", "b"}, []string{"a", "b", "c"}, []string{"a", "b", "c"}, 0, nil},
		{"up restarted without --network", []string{"a", "b"}, nil, nil, slog.LevelWarn, []string{"a", "b"}},
		{"another network loaded", []string{"a"}, []string{"x"}, []string{"x"}, slog.LevelWarn, []string{"a"}},
		{"some run here", []string{"a", "b"}, []string{"a"}, nil, slog.LevelInfo, []string{"b"}},
		{"--propagators none", []string{"a", "b"}, nil, []string{"a", "b"}, slog.LevelInfo, []string{"a", "b"}},
		{"another group selected", []string{"a"}, []string{"b"}, []string{"a", "b"}, slog.LevelInfo, []string{"a"}},
		{"none run, some foreign", []string{"a", "z"}, nil, []string{"a"}, slog.LevelWarn, []string{"z"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			level, msg, names := propagatorNotice(tt.inLog, tt.running, tt.declared)
			if (msg == "") != (tt.names == nil) || !slices.Equal(names, tt.names) || (msg != "" && level != tt.level) {
				t.Errorf("propagatorNotice = %v %q %q, want %v about %q", level, msg, names, tt.level, tt.names)
			}
		})
	}
}
