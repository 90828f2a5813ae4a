package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// The old spellings of renamed flags keep working, hidden from the help.
func TestOldFlagSpellings(t *testing.T) {
	for _, tt := range []struct {
		cmd       string
		args      []string
		flag, old string
		want      string
	}{
		{"up", []string{"--nats", "127.0.0.1:4300"}, "nats-listen", "--nats ", "127.0.0.1:4300"},
		{"up", []string{"--nats=127.0.0.1:4301"}, "nats-listen", "--nats ", "127.0.0.1:4301"},
		{"up", []string{"--nats-listen", "127.0.0.1:4302"}, "nats-listen", "--nats ", "127.0.0.1:4302"},
		{"broker", []string{"--nats", "0.0.0.0:4222"}, "nats-listen", "--nats ", "0.0.0.0:4222"},
		{"broker", []string{"--replicas", "3"}, "stream-replicas", "--replicas", "3"},
		{"broker", []string{"--stream-replicas", "3"}, "stream-replicas", "--replicas", "3"},
	} {
		t.Run(strings.Join(append([]string{tt.cmd}, tt.args...), " "), func(t *testing.T) {
			c, _, err := newRoot().Find([]string{tt.cmd})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.ParseFlags(tt.args); err != nil {
				t.Fatalf("parse %v: %v", tt.args, err)
			}
			if got := c.Flags().Lookup(tt.flag).Value.String(); got != tt.want {
				t.Errorf("--%s = %q, want %q", tt.flag, got, tt.want)
			}
			if help := c.UsageString(); strings.Contains(help, tt.old) || !strings.Contains(help, "--"+tt.flag+" ") {
				t.Errorf("help lists %q or lacks --%s:\n%s", tt.old, tt.flag, help)
			}
		})
	}
}

// --nats-url defaults to $NATS_URL, as the nats CLI does.
func TestNatsURLFromEnv(t *testing.T) {
	for _, env := range []string{"", "nats://a.example:4222,nats://b.example:4222"} {
		t.Setenv("NATS_URL", env)
		want := env
		if env == "" {
			want = "nats://127.0.0.1:4222"
		}
		for _, name := range []string{"replica", "replay", "restore", "compact"} {
			c, _, err := newRoot().Find([]string{name})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.ParseFlags(nil); err != nil {
				t.Fatal(err)
			}
			urls, err := c.Flags().GetStringSlice("nats-url")
			if got := strings.Join(urls, ","); err != nil || got != want {
				t.Errorf("NATS_URL=%q: %s --nats-url = %q, want %q", env, name, got, want)
			}
		}
	}
}

func TestBuildVersionOf(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	rev := "0123456789abcdef0123456789abcdef01234567"
	for _, tt := range []struct {
		name     string
		info     *debug.BuildInfo
		override string
		want     buildVersion
		line     string
	}{
		{"go install @version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"", buildVersion{Version: "v1.2.3", Go: "go1.26.8"}, "v1.2.3 go1.26.8"},
		{"work tree with vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261130090000-0123456789ab+dirty"},
			Settings: settings("vcs", "git", "vcs.revision", rev, "vcs.modified", "true")},
			"", buildVersion{Version: "v0.0.0-20261130090000-0123456789ab+dirty", Go: "go1.26.8", Revision: rev, Modified: true},
			"v0.0.0-20261130090000-0123456789ab+dirty (0123456789ab, modified) go1.26.8"},
		{"devel with vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", rev, "vcs.modified", "false")},
			"", buildVersion{Version: "devel", Go: "go1.26.8", Revision: rev}, "devel (0123456789ab) go1.26.8"},
		{"ldflags win", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"v2.0.0", buildVersion{Version: "v2.0.0", Go: "go1.26.8"}, "v2.0.0 go1.26.8"},
		{"no build info", nil, "", buildVersion{Version: "devel"}, "devel"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := buildVersionOf(tt.info, tt.override)
			if got != tt.want {
				t.Errorf("buildVersionOf = %+v, want %+v", got, tt.want)
			}
			if got.String() != tt.line {
				t.Errorf("String() = %q, want %q", got.String(), tt.line)
			}
		})
	}
}
