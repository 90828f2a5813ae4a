package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/dprop/dprop/replica"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressReporter shows a replica's resync: a progress bar when stderr is a
// terminal, a log line every few seconds otherwise.
func progressReporter(log *slog.Logger) func(replica.Progress) {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return barReporter()
	}
	var mu sync.Mutex
	var last time.Time
	return func(p replica.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Ready || !p.Attached {
			return // the replica logs "replica ready", and why it is not attached, itself
		}
		if time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		log.Info("resync", "percent", fmt.Sprintf("%.1f", 100*p.Fraction()), "applied_seq", p.Applied,
			"target_seq", p.Target, "pending", p.Pending, "cells", p.Cells)
	}
}

func barReporter() func(replica.Progress) {
	var bar *progressbar.ProgressBar
	return func(p replica.Progress) {
		total := int64(p.Target - min(p.Start, p.Target))
		if bar == nil && !p.Attached {
			return
		}
		if bar == nil {
			if p.Ready || total < 1000 {
				return // nothing worth a bar
			}
			bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription("resync"),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("updates"),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		done := int64(p.Applied - min(p.Start, p.Applied))
		if p.Ready {
			done = total
		}
		_ = bar.Set64(min(done, total))
		if p.Ready {
			_ = bar.Finish()
		}
	}
}
