package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/httpapi"
)

func newFeedCmd() *cobra.Command {
	var (
		f     clientFlags
		every time.Duration
		loop  bool
	)
	cmd := &cobra.Command{
		Use:   "feed CELL VALUE...",
		Short: "Refine a cell with each value in turn, one every interval (a demo writer)",
		Long: `Refine CELL with each VALUE (wire JSON) in turn through a sidecar, one every
--every, as an application that reports readings would; with --loop, start
over after the last one. It waits for the sidecar to come up and retries a
refine the sidecar could not store (no answer, or 503), with an
Idempotency-Key so that a retry is stored once; a refusal (4xx) ends it.
Each value is checked before anything is sent.`,
		Example: `  dprop feed --every 2s weather.boston.temp_f \
    '{"type":"range","min":34,"max":48}' '{"type":"range","min":36,"max":43}'`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if every < 0 {
				return usagef("--every %v: give a duration of 0 or more", every)
			}
			cell, values := args[0], args[1:]
			for i, v := range values {
				if _, err := lattice.Decode([]byte(v)); err != nil {
					return usagef("value %d: %v", i+1, err)
				}
			}
			ctx, c, out := cmd.Context(), f.client(), cmd.OutOrStdout()
			for round := 1; ; round++ {
				for i, v := range values {
					if round > 1 || i > 0 {
						select {
						case <-ctx.Done():
							return nil
						case <-time.After(every):
						}
					}
					got, err := refineRetrying(ctx, c, cell, []byte(v))
					if ctx.Err() != nil {
						return nil
					}
					if err != nil {
						return clientError(f.url, err)
					}
					fmt.Fprintf(out, "%s\t%d/%d\t⊔ %s\t= %s\n", cell, i+1, len(values), v, got.Value)
				}
				if !loop {
					return nil
				}
			}
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.DurationVar(&every, "every", time.Second, "pause between two values")
	fl.BoolVar(&loop, "loop", false, "start over after the last value, until interrupted")
	return cmd
}

// refineRetrying refines cell with value, retrying while the sidecar is
// unreachable or answers 503, until ctx ends. The idempotency key is the
// hash of the cell and value, so retries (and repeats within the stream's
// duplicate window) are stored once.
func refineRetrying(ctx context.Context, c *httpapi.Client, cell string, value []byte) (httpapi.Cell, error) {
	sum := sha256.Sum256(append([]byte(cell+"\x00"), value...))
	key := "feed-" + hex.EncodeToString(sum[:16])
	wait := 250 * time.Millisecond
	for {
		got, err := c.Refine(ctx, cell, value, httpapi.WithIdempotencyKey(key))
		var apiErr *httpapi.APIError
		if err == nil || ctx.Err() != nil || (errors.As(err, &apiErr) && apiErr.Status != http.StatusServiceUnavailable) {
			return got, err
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
