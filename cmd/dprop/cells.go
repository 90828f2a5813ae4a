package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/replica/httpapi"
)

func newCellsCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "cells [PATTERN]",
		Short: "List the cells a sidecar holds",
		Example: `  dprop cells
  dprop cells 'weather.>'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			match := ""
			if len(args) == 1 {
				match = args[0]
			}
			cells, err := f.client().Cells(cmd.Context(), match)
			if err != nil {
				return clientError(f.url, err)
			}
			if len(cells) == 0 && match != "" && !cellname.IsPattern(match) {
				fmt.Fprintf(cmd.ErrOrStderr(), "dprop: no cell is named %s; for the cells under it, give the pattern '%s.>'\n", match, match)
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), cells)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CELL\tTYPE\tUPDATES\tSEQ\tETAG")
			for _, c := range cells {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", c.Name, cellType(c), c.Updates, c.Seq, c.ETag)
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}

// cellType is the TYPE column: a contradiction says so plainly.
func cellType(c httpapi.Cell) string {
	switch {
	case c.Contradiction != "" && c.Type != "":
		return "contradiction (" + c.Type + ")"
	case c.Contradiction != "":
		return "contradiction"
	}
	return c.Type
}
