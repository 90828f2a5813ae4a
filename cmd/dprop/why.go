package main

import (
	"fmt"
	"io"
	"time"

	"github.com/dprop/dprop/replica"
	"github.com/spf13/cobra"
)

func newWhyCmd() *cobra.Command {
	var (
		f              clientFlags
		depth, changes int
	)
	cmd := &cobra.Command{
		Use:   "why CELL",
		Short: "Explain a cell's value from the log: who wrote it, and what it was derived from",
		Long: `Explain why a cell holds what it holds, from the log (so it works on any
sidecar of the stream, whichever ran the propagators): the changes that made
the value, newest first, each with its writer and time; for a change a
propagator derived, the propagator and the inputs it read (cell@seq) with
their values then, each explained in turn, down to --depth levels. The tree
ends at updates written from outside (no propagator), at a compaction, or
at the depth.`,
		Example: `  dprop why building.height
  dprop why --depth 1 --changes 3 fall.time_sq
  dprop why --json building.height | jq .`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			why, err := f.client().Why(cmd.Context(), args[0], depth, changes)
			if err != nil {
				return clientError(f.url, err)
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), why)
			}
			printWhy(cmd.OutOrStdout(), &why, "")
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&depth, "depth", replica.DefaultWhyDepth, fmt.Sprintf("levels of derivation to follow (1 to %d)", replica.MaxWhyDepth))
	cmd.Flags().IntVar(&changes, "changes", replica.DefaultWhyChanges, fmt.Sprintf("changes to list per cell, newest first (1 to %d)", replica.MaxWhyChanges))
	return cmd
}

// printWhy prints an explanation as an indented tree.
func printWhy(w io.Writer, why *replica.Why, indent string) {
	fmt.Fprintf(w, "%s%s = %s\n", indent, why.Cell, why.Value)
	for _, c := range why.Changes {
		by := "written"
		if c.Propagator != "" {
			by = "derived by " + c.Propagator
		}
		if c.Rollup {
			by = "compacted"
		}
		writer := c.Writer
		if writer == "" {
			writer = "unknown writer"
		}
		fmt.Fprintf(w, "%s  @%d %s, %s by %s: %s\n", indent, c.Seq, c.Time.Local().Format(time.DateTime), by, writer, c.Update)
		for _, in := range c.Inputs {
			if in.Why != nil {
				printWhy(w, in.Why, indent+"    ")
				continue
			}
			fmt.Fprintf(w, "%s    %s@%d = %s\n", indent, in.Cell, in.Seq, in.Value)
		}
	}
	if why.More {
		fmt.Fprintf(w, "%s  … older changes left out (--changes)\n", indent)
	}
}

func newPremisesCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "premises",
		Short: "List the premises, which are withdrawn, and the nogoods",
		Long: `List every premise the sidecar knows of (those supported cells rest on, and
those ever withdrawn), whether it is believed, and who changed that last;
then the nogoods (sets of premises found unable to hold together), marking
those the current worldview believes wholly: an inconsistent worldview.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := f.client().Premises(cmd.Context())
			if err != nil {
				return clientError(f.url, err)
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), p)
			}
			return printPremises(cmd.OutOrStdout(), p.Premises, p.Nogoods, p.Inconsistent)
		},
	}
	f.register(cmd)
	return cmd
}

// newPremiseCmd is dprop withdraw and dprop reinstate.
func newPremiseCmd(believed bool) *cobra.Command {
	var f clientFlags
	use, short, long := "withdraw PREMISE", "Stop believing a premise, for every replica",
		`Withdraw a premise: from now on, reads of supported cells and the
propagators over them leave out every claim resting on it, on every replica
(the worldview is a replicated cell). Nothing is deleted: the claims stay in
the log, and dprop reinstate brings them back.`
	if believed {
		use, short, long = "reinstate PREMISE", "Believe a withdrawn premise again, for every replica",
			`Believe a withdrawn premise again: the claims resting on it count again in
reads of supported cells, and the propagators over them run again.`
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Example: `  dprop withdraw superintendent
  dprop reinstate superintendent`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.client().SetPremise(cmd.Context(), args[0], believed)
			if err != nil {
				return clientError(f.url, err)
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), p)
			}
			return printPremises(cmd.OutOrStdout(), p.Premises, p.Nogoods, p.Inconsistent)
		},
	}
	if believed {
		cmd.Aliases = []string{"believe"}
	}
	f.register(cmd)
	return cmd
}
