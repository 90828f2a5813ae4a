package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/replica/httpapi"
)

// opFlags are the flags every operation command shares.
type opFlags struct {
	client clientFlags
	key    string
	logAck bool
}

func (f *opFlags) register(cmd *cobra.Command) {
	f.client.register(cmd)
	cmd.Flags().StringVar(&f.key, "idempotency-key", "", "a key naming this operation: retried with the same key, through any sidecar, it is applied once (within the stream's duplicate window)")
	cmd.Flags().BoolVar(&f.logAck, "ack-log", false, "fail rather than let the sidecar keep the operation in its outbox when the log cannot take it in time")
}

const opsLong = `

The sidecar turns the operation into the smallest update that has its
effect (a delta), written under its own writer id, and prints the cell
after it (read-your-writes). A cell without a type takes the operation's
(inc: gcounter, dec: pncounter, add/remove: orset, set of a plain JSON
value: lww) unless it is declared; an operation that does not apply to the
cell's type is refused (HTTP 409) and nothing is published.

--idempotency-key makes the operation exactly once: a retry with the same
key, even through another sidecar or after a crash, is applied once and
says it was a duplicate. Give each operation its own key.

Exit status: 0 applied (into the log, or kept in the sidecar's outbox); 3
applied, and the cell is a contradiction; 1 refused or failed; 2 usage
error. See docs/api.md, Operations.`

// newOpCmds returns inc, dec, add, remove and set.
func newOpCmds() []*cobra.Command {
	count := func(name, short, example string) *cobra.Command {
		var f opFlags
		cmd := &cobra.Command{
			Use:     name + " CELL [N]",
			Short:   short,
			Long:    short + " (by 1 unless N is given; N ≥ 0)." + opsLong,
			Example: example,
			Args:    cobra.RangeArgs(1, 2),
			RunE: func(cmd *cobra.Command, args []string) error {
				by := int64(1)
				if len(args) == 2 {
					n, err := strconv.ParseInt(args[1], 10, 64)
					if err != nil || n < 0 {
						return usagef("N: want a whole number from 0 up, not %q", args[1])
					}
					by = n
				}
				return runOp(cmd, &f, args[0], map[string]any{"op": name, "by": by})
			},
		}
		f.register(cmd)
		return cmd
	}
	members := func(name, short, example string) *cobra.Command {
		var (
			f   opFlags
			key string
		)
		use := name + " CELL ELEM..."
		minArgs := 2
		if name == "remove" {
			use, minArgs = "remove CELL [ELEM...]", 1
		}
		cmd := &cobra.Command{
			Use:   use,
			Short: short,
			Long: short + `. An ELEM that reads as a JSON number or a quoted JSON string
is that; any other is a string ("3" is the number 3, '"3"' the string).` + opsLong,
			Example: example,
			Args:    cobra.MinimumNArgs(minArgs),
			RunE: func(cmd *cobra.Command, args []string) error {
				o := map[string]any{"op": name}
				switch {
				case key != "" && len(args) > 1:
					return usagef("give --key or elements, not both")
				case key != "":
					o["key"] = key
				case len(args) == 1:
					return usagef("remove what? give elements, or --key KEY of a map")
				default:
					o["elems"] = elemArgs(args[1:])
				}
				return runOp(cmd, &f, args[0], o)
			},
		}
		f.register(cmd)
		if name == "remove" {
			cmd.Flags().StringVar(&key, "key", "", "remove this key of a map cell (where its value allows: an orset's, by clearing it)")
		}
		return cmd
	}
	var setFlags opFlags
	set := &cobra.Command{
		Use:   "set CELL JSON|-",
		Short: "Assign a value to a cell: a register, a max or min, a number",
		Long: `Assign a value (JSON, or - to read it from stdin) to a cell: an lww register
takes any JSON, stamped by the sidecar's hybrid logical clock so that a
later set through the same sidecar always wins; a max, min or number takes
a plain number; any cell takes a lattice value in wire form (merged, as
refine does).` + opsLong,
		Example: `  dprop set motd '"maintenance at noon"'
  dprop set config.theme '{"dark":true}'
  dprop set load.peak 0.93`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := readJSONArg(args[1], cmd.InOrStdin())
			if err != nil {
				return err
			}
			if !json.Valid(body) {
				return usagef("JSON: %q is not JSON (a string needs its quotes: '\"text\"')", body)
			}
			return runOp(cmd, &setFlags, args[0], map[string]any{"op": "set", "value": json.RawMessage(body)})
		},
	}
	setFlags.register(set)
	return []*cobra.Command{
		count("inc", "Increment a counter", "  dprop inc jobs.done\n  dprop inc pages.home 5 --idempotency-key req-8f2c"),
		count("dec", "Decrement a counter (a pncounter)", "  dprop dec stock.apples 3"),
		members("add", "Add elements to a set", "  dprop add tags.post42 go nats crdt"),
		members("remove", "Remove elements from an orset (those this sidecar has seen added), or a key of a map",
			"  dprop remove tags.post42 nats\n  dprop remove carts.ann --key apples"),
		set,
	}
}

// elemArgs reads ELEM arguments: JSON numbers and quoted strings as
// such, anything else as a string.
func elemArgs(args []string) []json.RawMessage {
	out := make([]json.RawMessage, len(args))
	for i, a := range args {
		var probe any
		if err := json.Unmarshal([]byte(a), &probe); err == nil {
			switch probe.(type) {
			case float64, string:
				out[i] = json.RawMessage(a)
				continue
			}
		}
		b, _ := json.Marshal(a)
		out[i] = b
	}
	return out
}

// runOp sends the operation o to the sidecar and prints the cell.
func runOp(cmd *cobra.Command, f *opFlags, cell string, o map[string]any) error {
	body, err := json.Marshal(o)
	if err != nil {
		return err
	}
	opts := []httpapi.RefineOption{httpapi.WithIdempotencyKey(f.key)}
	if f.logAck {
		opts = append(opts, httpapi.WithLogAck())
	}
	c, err := f.client.client().Apply(cmd.Context(), cell, body, opts...)
	var apiErr *httpapi.APIError
	if errors.As(err, &apiErr) && apiErr.Reason == httpapi.ReasonKeyReused {
		return exitError{code: exitFailure, msg: fmt.Sprintf("%s (HTTP %d)\n--idempotency-key %q names another operation on %s: give each operation its own key",
			apiErr.Message, apiErr.Status, f.key, cell)}
	}
	if err != nil {
		return clientError(f.client.url, err)
	}
	if c.Accepted && !f.client.json {
		fmt.Fprintf(cmd.ErrOrStderr(), "dprop: the log could not take the operation in time; the sidecar keeps it in its outbox, synced, and will deliver it (%s update(s) of the cell pending)\n", orUnknown(c.Pending))
	}
	if c.Duplicate && !f.client.json {
		fmt.Fprintf(cmd.ErrOrStderr(), "dprop: already applied under --idempotency-key %q: applied once\n", f.key)
	}
	if c.Value == nil && !f.client.json {
		fmt.Fprintf(cmd.ErrOrStderr(), "dprop: applied to %s; the token may not read the cell, so the sidecar did not send its value\n", cell)
		return nil
	}
	if err := printCell(cmd, f.client.json, c); err != nil {
		return err
	}
	if c.Contradiction != "" {
		return exitError{code: exitContradiction}
	}
	return nil
}
