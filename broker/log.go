package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// slogLogger carries nats-server's log calls to a *slog.Logger:
// Noticef→Info, Warnf→Warn, Errorf and Fatalf→Error, Debugf and Tracef→Debug.
//
// nats-server calls Fatalf when it cannot go on (a port already taken, a
// store it cannot open); its own logger then exits the process. This one
// only logs and keeps the first such message, so that Start can return it
// as an error instead.
type slogLogger struct {
	log *slog.Logger

	mu    sync.Mutex
	fatal string // first Fatalf message, "" if none
}

var _ server.Logger = (*slogLogger)(nil)

func newSlogLogger(l *slog.Logger) *slogLogger { return &slogLogger{log: l} }

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

func (l *slogLogger) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprintf(format, v...))
}

// debugEnabled reports whether l lets Debug records through; nats-server
// only produces debug logs when asked to.
func debugEnabled(l *slog.Logger) bool {
	return l.Enabled(context.Background(), slog.LevelDebug)
}
