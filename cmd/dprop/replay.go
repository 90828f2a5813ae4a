package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/replica"
)

func newReplayCmd(g *globals) *cobra.Command {
	var (
		nf        natsFlags
		untilSeq  uint64
		untilTime string
		cells     string
		out       string
		prefix    string
		stream    string
		maxBytes  int
		trustFile string
	)
	cmd := &cobra.Command{
		Use:   "replay --out FILE [--until-seq N | --until-time T] [--cells PATTERN]",
		Short: "Rebuild the cells as they were at a point of the log, into a snapshot file",
		Long: `Read the update log from the start up to a stream sequence or a time (or to
the end) and write the cells as they were then to a snapshot file: JSON
lines, one cell a line with its value and the sequence it reflects, with a
checksum. It publishes nothing. Publish a snapshot back with 'dprop restore'.`,
		Example: `  dprop replay --out now.jsonl
  dprop replay --until-time 2026-11-25T09:00:00Z --cells 'weather.>' --out weather-9am.jsonl
  dprop replay --until-seq 120000 --out before.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if out == "" {
				return usagef("--out FILE is required")
			}
			if untilSeq > 0 && untilTime != "" {
				return usagef("give --until-seq or --until-time, not both")
			}
			until, err := parseTime("--until-time", untilTime)
			if err != nil {
				return err
			}
			if err := cellname.ValidatePattern(cells); err != nil {
				return usagef("--cells: %v", err)
			}
			if err := checkMaxCellBytes(maxBytes); err != nil {
				return err
			}
			trust, err := loadTrust(trustFile)
			if err != nil {
				return err
			}
			nc, err := nf.connect(log, "dprop replay", false)
			if err != nil {
				return err
			}
			defer nc.Close()
			start := time.Now()
			h, cs, err := replica.Replay(cmd.Context(), nc, replica.ReplayOptions{
				Prefix: prefix, Stream: stream, Cells: cells, UntilSeq: untilSeq, UntilTime: until,
				MaxCellBytes: maxBytes, Trust: trust, NetworkDeclarations: logDeclarations, Progress: progressReporter(log), Logger: log,
			})
			if err != nil {
				return err
			}
			if err := replica.WriteSnapshotFile(out, h, cs); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d cells as of stream sequence %d to %s (%v)\n", len(cs), h.Seq, out, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	nf.register(cmd)
	fl := cmd.Flags()
	fl.Uint64Var(&untilSeq, "until-seq", 0, "stop after this stream sequence")
	fl.StringVar(&untilTime, "until-time", "", "stop before the first update stored after this time (RFC 3339, or a duration ago such as 90m)")
	fl.StringVar(&cells, "cells", ">", "cells to rebuild (a pattern)")
	fl.StringVar(&out, "out", "", "snapshot file to write")
	fl.StringVar(&prefix, "prefix", cellname.DefaultPrefix, "subject prefix of cells")
	fl.StringVar(&stream, "stream", cellname.DefaultStream, "name of the stream keeping the update log")
	registerMaxCellBytes(cmd, &maxBytes)
	registerTrust(cmd, &trustFile)
	return cmd
}
