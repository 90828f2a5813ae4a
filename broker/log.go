package broker

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// slogLogger carries nats-server's log calls to a *slog.Logger:
// Noticef→Info, Warnf→Warn, Errorf and Fatalf→Error, Debugf and Tracef→Debug,
// with three corrections that make the server's logs an operator's:
//
//   - The start banner (version, names, the JetStream ASCII art and limits,
//     a line each) becomes two structured records, "nats-server starting"
//     and "jetstream started", their values as attributes.
//   - What a cluster says while it forms ("Waiting for routing to be
//     established", no meta leader yet) is Info, not Warn.
//   - A route that cannot be reached is said once a minute at Warn, with
//     the number of attempts meanwhile, instead of an Error a second.
//
// nats-server calls Fatalf when it cannot go on (a port already taken, a
// store it cannot open); its own logger then exits the process. This one
// only logs and keeps the first such message, so that Start can return it
// as an error instead.
type slogLogger struct {
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	fatal   string // first Fatalf message, "" if none
	banner  []any  // attributes of the banner being read
	section string // "server" or "jetstream" while reading a banner
	routes  map[string]*routeFailures
}

// routeFailures counts failed attempts to reach one route since it was
// last logged.
type routeFailures struct {
	logged time.Time
	since  int
}

// routeLogEvery is how often a route that stays unreachable is logged.
const routeLogEvery = time.Minute

var _ server.Logger = (*slogLogger)(nil)

func newSlogLogger(l *slog.Logger) *slogLogger {
	return &slogLogger{log: l, now: time.Now, routes: map[string]*routeFailures{}}
}

func (l *slogLogger) Noticef(format string, v ...any) { l.emit(slog.LevelInfo, format, v) }
func (l *slogLogger) Warnf(format string, v ...any)   { l.emit(slog.LevelWarn, format, v) }
func (l *slogLogger) Errorf(format string, v ...any)  { l.emit(slog.LevelError, format, v) }
func (l *slogLogger) Debugf(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }
func (l *slogLogger) Tracef(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }

func (l *slogLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.fatal == "" {
		l.fatal = msg
	}
	l.mu.Unlock()
	l.log.Error(msg, "fatal", true)
}

// fatalMessage returns the first message given to Fatalf, or "".
func (l *slogLogger) fatalMessage() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}

var (
	// bannerField is a "  Key:   value" line of the start banner.
	bannerField = regexp.MustCompile(`^ {2}([A-Za-z][A-Za-z ]*[A-Za-z]):\s+(.*)$`)
	// routeError is a failed attempt to reach a route.
	routeError = regexp.MustCompile(`^Error trying to connect to route(?: \(attempt (\d+)\))?: (?:dial tcp )?([^: ]+:\d+)`)
)

func (l *slogLogger) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) && level != slog.LevelError {
		return
	}
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	rec, ok := l.rewrite(level, msg)
	l.mu.Unlock()
	if ok {
		l.log.Log(ctx, rec.level, rec.msg, rec.attrs...)
	}
}

// record is a log record to emit.
type record struct {
	level slog.Level
	msg   string
	attrs []any
}

// rewrite turns one line of the server's into the record to emit, or
// none (ok false). l.mu is held.
func (l *slogLogger) rewrite(level slog.Level, msg string) (record, bool) {
	switch {
	case msg == "Starting nats-server":
		l.section, l.banner = "server", nil
		return record{}, false
	case msg == "Starting JetStream":
		if r, ok := l.endBanner(); ok {
			l.section = "jetstream"
			return r, true
		}
		l.section, l.banner = "jetstream", nil
		return record{}, false
	case l.section != "":
		if m := bannerField.FindStringSubmatch(msg); m != nil {
			key := strings.ReplaceAll(strings.ToLower(m[1]), " ", "_")
			l.banner = append(l.banner, key, strings.Trim(m[2], `"`))
			return record{}, false
		}
		if l.section == "jetstream" && !strings.HasPrefix(msg, "-------------------------------------------") {
			return record{}, false // the ASCII art, its blank lines and the docs' URL
		}
		if r, ok := l.endBanner(); ok {
			if strings.HasPrefix(msg, "---") {
				return r, true // the banner's closing rule
			}
			l.log.Log(context.Background(), r.level, r.msg, r.attrs...)
		}
	}
	if m := routeError.FindStringSubmatch(msg); m != nil {
		return l.routeFailed(m[2], msg)
	}
	if level == slog.LevelWarn && (strings.HasPrefix(msg, "Waiting for routing to be established") ||
		strings.HasPrefix(msg, "JetStream has not established contact with a meta leader")) {
		level = slog.LevelInfo // a cluster forming says so
	}
	if !l.log.Enabled(context.Background(), level) {
		return record{}, false
	}
	return record{level: level, msg: msg}, true
}

// endBanner ends the banner being read and returns its record.
func (l *slogLogger) endBanner() (record, bool) {
	section, attrs := l.section, l.banner
	l.section, l.banner = "", nil
	switch section {
	case "server":
		return record{level: slog.LevelInfo, msg: "nats-server starting", attrs: attrs}, true
	case "jetstream":
		return record{level: slog.LevelInfo, msg: "jetstream started", attrs: attrs}, true
	}
	return record{}, false
}

// routeFailed logs a failed attempt to reach a route at most once a
// minute per route, saying how many attempts failed since.
func (l *slogLogger) routeFailed(route, msg string) (record, bool) {
	f := l.routes[route]
	if f == nil {
		f = &routeFailures{}
		l.routes[route] = f
	}
	f.since++
	now := l.now()
	if !f.logged.IsZero() && now.Sub(f.logged) < routeLogEvery {
		return record{}, false
	}
	attempts := f.since
	f.logged, f.since = now, 0
	return record{level: slog.LevelWarn, msg: "cannot reach a route; retrying",
		attrs: []any{"route", route, "attempts", attempts, "every", routeLogEvery, "err", msg}}, true
}

// debugEnabled reports whether l lets Debug records through; nats-server
// only produces debug logs when asked to.
func debugEnabled(l *slog.Logger) bool {
	return l.Enabled(context.Background(), slog.LevelDebug)
}
