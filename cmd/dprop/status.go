package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/replica"
)

func newStatusCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "status [SIDECAR-URL...]",
		Short: "Show the stream, its cluster and how far each sidecar has got",
		Long: `Show, in one look, the stream (messages, bytes, sequences, limits, the last
compaction), its cluster (the leader, and each follower current or how far
behind), and each sidecar: ready, applied sequence, lag, cells, the NATS
server it is connected to, and any problem with its stream. Give several
sidecars' URLs (or host:port) for a table of all of them; without any, the
one of --url. --json prints every sidecar's GET /v1/status.`,
		Example: `  dprop status
  dprop status 127.0.0.1:37767 127.0.0.1:37768 127.0.0.1:37769`,
		RunE: func(cmd *cobra.Command, args []string) error {
			urls := []string{f.url}
			if len(args) > 0 {
				urls = urls[:0]
				for _, a := range args {
					u, err := sidecarURL(a)
					if err != nil {
						return usagef("%q: %w", a, err)
					}
					urls = append(urls, u)
				}
			}
			sts := make([]sidecarStatus, len(urls))
			for i, u := range urls {
				ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
				st, err := f.clientFor(u).Status(ctx)
				cancel()
				sts[i] = sidecarStatus{URL: u, Status: st}
				if err != nil {
					sts[i].Error = clientError(u, err).Error()
				}
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), sts)
			}
			printStatus(cmd.OutOrStdout(), sts)
			for _, s := range sts {
				if s.Error != "" || !s.Status.Replica.Ready {
					return exitError{code: exitFailure}
				}
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// sidecarStatus is one sidecar's answer, or why there is none.
type sidecarStatus struct {
	URL    string         `json:"url"`
	Status replica.Status `json:"status"`
	Error  string         `json:"error,omitempty"`
}

// printStatus prints the stream (from the first sidecar that could ask
// it) and a line per sidecar.
func printStatus(w io.Writer, sts []sidecarStatus) {
	var stream *replica.StreamReport
	var seenBy *replica.ReplicaStatus
	for i := range sts {
		if s := sts[i].Status.Stream; s != nil && sts[i].Error == "" {
			stream, seenBy = s, &sts[i].Status.Replica
			break
		}
	}
	if stream == nil {
		fmt.Fprintln(w, "Stream: unknown (no sidecar could ask it)")
		for _, s := range sts {
			if s.Status.StreamError != "" {
				fmt.Fprintf(w, "  %s: %s\n", s.URL, s.Status.StreamError)
			}
		}
	} else {
		limit := "no size limit"
		if stream.MaxBytes > 0 {
			limit = fmt.Sprintf("limit %s (discard %s)", bytesText(uint64(stream.MaxBytes)), stream.Discard)
		}
		fmt.Fprintf(w, "Stream %s (%s): %d messages, %s, sequences %d..%d, %d replica(s), %s\n",
			stream.Name, strings.Join(stream.Subjects, ", "), stream.Messages, bytesText(stream.Bytes),
			stream.FirstSeq, stream.LastSeq, stream.Replicas, limit)
		if c := stream.Cluster; c != nil {
			var peers []string
			for _, p := range c.Replicas {
				state := "current"
				switch {
				case p.Offline:
					state = "offline"
				case !p.Current:
					state = fmt.Sprintf("lagging by %d", p.Lag)
				}
				peers = append(peers, fmt.Sprintf("%s %s (seen %s ago)", p.Name, state, p.Active.Round(time.Millisecond)))
			}
			fmt.Fprintf(w, "  leader %s; %s\n", orNone(c.Leader), strings.Join(peers, "; "))
		}
		if c := seenBy.LastCompaction; c != nil {
			fmt.Fprintf(w, "  last compaction: sequence %d at %s (%s ago)\n", c.Seq, c.Time.UTC().Format(time.RFC3339), time.Since(c.Time).Round(time.Second))
		} else {
			fmt.Fprintln(w, "  last compaction: none seen")
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SIDECAR\tREADY\tAPPLIED\tLAG\tCELLS\tOUTBOX\tSERVER\tORIGIN\tPROBLEM")
	for _, s := range sts {
		r := s.Status.Replica
		problem := s.Error
		if problem == "" {
			problem = r.Problem
		}
		if problem == "" && !r.Connected {
			problem = "not connected to NATS"
		}
		server := r.ServerName
		if server == "" {
			server = r.Server
		}
		ready := "no"
		switch {
		case s.Error != "":
			ready = "-"
		case r.Ready && r.Stale:
			ready = "stale"
		case r.Ready:
			ready = "yes"
		}
		outbox := "-" // none
		if ob := r.Outbox; ob != nil {
			outbox = fmt.Sprint(ob.Pending)
			if ob.Pending > 0 {
				outbox += fmt.Sprintf(" (%s)", time.Since(ob.Oldest).Round(time.Second))
			}
			if problem == "" && ob.LastError != "" {
				problem = "outbox: " + ob.LastError
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", s.URL, ready, r.Applied, r.Pending, r.Held, outbox, orNone(server), orNone(r.Origin), orNone(problem))
	}
	tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// bytesText is n bytes for people.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
