package main

import (
	"github.com/spf13/cobra"

	"github.com/dprop/dprop/replica/fold"
)

// registerMaxCellBytes adds --max-cell-bytes to the commands that fold the
// log (up, replica, compact, replay): what counts depends on it, so they
// must all be given the same value.
func registerMaxCellBytes(cmd *cobra.Command, p *int) {
	cmd.Flags().IntVar(p, "max-cell-bytes", fold.DefaultMaxCellBytes,
		"largest a cell's value may grow, in bytes of its JSON; an update that would make it larger is refused "+
			"(cell_too_large). Give every replica, compactor and replay of a stream the same value")
}

// checkMaxCellBytes refuses a negative --max-cell-bytes as a usage error.
func checkMaxCellBytes(n int) error {
	if n < 0 {
		return usagef("--max-cell-bytes %d: want a number of bytes", n)
	}
	return nil
}
