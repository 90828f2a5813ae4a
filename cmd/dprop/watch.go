package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dprop/dprop/replica/httpapi"
	"github.com/spf13/cobra"
)

func newWatchCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "watch CELL|PATTERN",
		Short: "Print a cell's value, then every change, until interrupted",
		Long: `Print the current value of a cell (or of every cell matching a pattern such
as "weather.>"), then one line per real change. Merges that add nothing
print nothing. A cell that does not exist yet may be watched.

A supported cell prints its strongest consequence under the worldview and
the premises it rests on ("support: a, b"), again whenever the worldview
changes; --json prints the stored claims too.

If the sidecar goes away (a restart, say), watch says so on stderr, tries
again with a growing pause, and says when the stream is back. It loses
nothing meanwhile: the new stream starts with each cell's current value,
which holds every change missed, and a value already printed is not
printed again. Only a sidecar that cannot be reached at the start, or a
refusal (a bad pattern, a cell not held there), ends the watch.`,
		Example: `  dprop watch weather.boston.temp
  dprop watch --json 'weather.>'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			p := &eventPrinter{last: map[string]httpapi.Event{}, print: func(ev httpapi.Event) error {
				if f.json {
					return printJSON(out, ev)
				}
				if len(ev.Consequence) > 0 { // a supported cell: its consequence now
					_, err := fmt.Fprintf(out, "%s\t%s\tsupport: %s\n", ev.Cell, ev.Consequence, strings.Join(ev.Support, ", "))
					return err
				}
				_, err := fmt.Fprintf(out, "%s\t%s\n", ev.Cell, ev.Value)
				return err
			}}
			w := resumingWatch{c: f.client(), url: f.url, pattern: args[0], stderr: cmd.ErrOrStderr()}
			return w.run(cmd.Context(), p.event)
		},
	}
	f.register(cmd)
	return cmd
}

// eventPrinter prints each event that says something new about its cell:
// one whose sequence is above the last printed for the cell (or, at the
// same sequence, whose value differs, which only a stream created anew
// can do). A resumed stream repeats the current values; they print nothing.
type eventPrinter struct {
	last  map[string]httpapi.Event // by cell; Value unset
	print func(httpapi.Event) error
}

// errPrint marks a failure to print, which ends the watch.
type errPrint struct{ err error }

func (e errPrint) Error() string { return e.err.Error() }
func (e errPrint) Unwrap() error { return e.err }

func (p *eventPrinter) event(ev httpapi.Event) error {
	if l, ok := p.last[ev.Cell]; ok && (ev.Seq < l.Seq || (ev.Seq == l.Seq && ev.ETag == l.ETag)) {
		return nil
	}
	p.last[ev.Cell] = httpapi.Event{Seq: ev.Seq, ETag: ev.ETag}
	if err := p.print(ev); err != nil {
		return errPrint{err}
	}
	return nil
}

// Pauses between attempts to reconnect.
const (
	watchRetryFirst = 250 * time.Millisecond
	watchRetryMost  = 5 * time.Second
)

// resumingWatch watches until its context ends, reconnecting when a
// stream that was open is lost.
type resumingWatch struct {
	c       *httpapi.Client
	url     string
	pattern string
	stderr  io.Writer
}

func (w resumingWatch) run(ctx context.Context, fn func(httpapi.Event) error) error {
	wait := watchRetryFirst
	var opened, lost bool
	var openedAt time.Time
	onOpen := httpapi.OnOpen(func() {
		opened, openedAt = true, time.Now()
		if lost {
			fmt.Fprintf(w.stderr, "dprop: event stream back; resuming\n")
			lost = false
		}
	})
	for {
		err := w.c.Watch(ctx, w.pattern, fn, onOpen)
		if ctx.Err() != nil {
			return nil
		}
		if !opened || !reconnectable(err) {
			return clientError(w.url, err)
		}
		if time.Since(openedAt) > watchRetryMost {
			wait = watchRetryFirst // the stream was fine for a while: start again
		}
		if !lost {
			fmt.Fprintf(w.stderr, "dprop: event stream lost (%v); reconnecting to %s\n", err, w.url)
			lost = true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, watchRetryMost)
	}
}

// reconnectable reports whether a watch that ended with err may be taken up
// again: the server ended the stream, the connection failed or broke, or
// the server (or a proxy) said it is unavailable for now.
func reconnectable(err error) bool {
	var apiErr *httpapi.APIError
	var opErr *net.OpError
	switch {
	case errors.As(err, &errPrint{}):
		return false
	case errors.As(err, &apiErr):
		switch apiErr.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	case errors.Is(err, httpapi.ErrStreamEnded), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &opErr):
		return true
	}
	return false
}
