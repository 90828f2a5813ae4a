package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/replica/httpapi"
)

func newRefineCmd() *cobra.Command {
	var (
		f   clientFlags
		key string
	)
	cmd := &cobra.Command{
		Use:   "refine CELL JSON|-",
		Short: "Merge a value into a cell and print the result",
		Long: `Publish a lattice value (wire JSON, or - to read it from stdin) as an
update of a cell. The sidecar merges it, never overwrites, and prints the
cell's value after the merge (read-your-writes).

An --idempotency-key names one update of the cell: retrying with the same
key and value stores it once (within the stream's duplicate window, two
minutes by default) and says it was a duplicate; the same key with another
value is refused. Give each new value its own key.

With a token that may refine the cell but not read it (see 'dprop access
token'), the sidecar does not send the value: nothing is printed, and a
contradiction cannot be told.

Exit status: 0 merged; 3 merged, and the cell is now a contradiction (its
value, printed, says what disagreed); 1 refused or failed; 2 usage error.`,
		Example: `  dprop refine weather.boston.temp '{"type":"range","min":34,"max":48}'
  echo '{"type":"flag","value":true}' | dprop refine jobs.done -`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := readJSONArg(args[1], cmd.InOrStdin())
			if err != nil {
				return err
			}
			cell, err := f.client().Refine(cmd.Context(), args[0], body, httpapi.WithIdempotencyKey(key))
			var apiErr *httpapi.APIError
			if errors.As(err, &apiErr) && apiErr.Reason == httpapi.ReasonKeyReused {
				return exitError{code: exitFailure, msg: fmt.Sprintf("%s (HTTP %d)\n--idempotency-key %q names another value of %s: give each new value its own key",
					apiErr.Message, apiErr.Status, key, args[0])}
			}
			if err != nil {
				return clientError(f.url, err)
			}
			if cell.Duplicate && !f.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "dprop: already stored under --idempotency-key %q: nothing new was stored\n", key)
			}
			if cell.Value == nil && !f.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "dprop: merged into %s; the token may not read the cell, so the sidecar did not send its value\n", args[0])
				return nil
			}
			if err := printCell(cmd, f.json, cell); err != nil {
				return err
			}
			if cell.Contradiction != "" {
				return exitError{code: exitContradiction} // printCell said so
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&key, "idempotency-key", "", "a key naming this update of the cell: a retry with the same key and value is stored once; another value under the key is refused")
	return cmd
}
