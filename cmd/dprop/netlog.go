package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
)

// Networks kept in the log: each is the last-writer-wins cell
// _dprop.network.<name>, whose value is the network file's text (or null
// once removed). Every replica folds the same log, so every replica sees
// the same latest definition; replicas started with --networks run the
// ones they match and follow their changes.

// netCellPrefix is the prefix of the cells that keep networks.
const netCellPrefix = fold.NetworkCells

// netDef is the value of a network's cell.
type netDef = network.LogDef

// logDeclarations reads the cell declarations of a network cell's value,
// for the fold of every replica, compactor and replay (see
// replica.Config.NetworkDeclarations).
func logDeclarations(v lattice.Value) fold.Declarations { return network.LogDeclarations(v) }

// netCell is the cell that keeps network name.
func netCell(name string) (string, error) {
	if strings.Contains(name, ".") || cellname.Validate(name) != nil {
		return "", fmt.Errorf("network name %q: want one token of letters, digits, '_' and '-'", name)
	}
	return netCellPrefix + name, nil
}

// decodeNetDef reads a network's cell: its definition, or nil once
// removed (or never applied).
func decodeNetDef(v lattice.Value) (*netDef, error) { return network.DecodeLogDef(v) }

// netLog is a short-lived replica of the network cells, for the network
// subcommands.
type netLog struct {
	rep *replica.Replica
}

// openNetLog starts it; trust (nil for none) is the policy it folds
// under, and key (nil for none) signs what it publishes.
func openNetLog(ctx context.Context, log *slog.Logger, nf *natsFlags, prefix, stream string, trust *fold.Trust, key replica.Signer) (*netLog, func(), error) {
	nc, err := nf.connect(log, "dprop network", false)
	if err != nil {
		return nil, nil, err
	}
	rep, err := replica.Start(ctx, replica.Config{Conn: nc, Prefix: prefix, Stream: stream, Cells: netCellPrefix + "*", Logger: log, Trust: trust, SignKey: key})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	closeAll := func() { rep.Close(); nc.Close() }
	select {
	case <-rep.Ready():
	case <-ctx.Done():
		closeAll()
		return nil, nil, ctx.Err()
	}
	return &netLog{rep: rep}, closeAll, nil
}

// put writes a network's definition (nil: removes it), at a time later
// than the definition it replaces, so that it wins even over a clock
// behind that of the writer before.
func (l *netLog) put(ctx context.Context, name string, d *netDef) error {
	cell, err := netCell(name)
	if err != nil {
		return err
	}
	raw := []byte("null")
	if d != nil {
		if raw, err = json.Marshal(d); err != nil {
			return err
		}
	}
	ts := time.Now().UnixMilli()
	if cur, ok := l.rep.Value(cell).(*lattice.LWW); ok && cur.TS() >= ts {
		ts = cur.TS() + 1
	}
	host, _ := os.Hostname()
	v, err := lattice.NewLWW(raw, ts, "dprop-network@"+host)
	if err != nil {
		return err
	}
	_, err = l.rep.Refine(ctx, cell, v)
	var refused *fold.RefusedError
	if errors.As(err, &refused) && (refused.Reason == fold.ReasonUnsigned || refused.Reason == fold.ReasonUntrustedSigner) {
		hint := "sign it with --sign-key FILE, a key the trust policy trusts for " + cell
		if l.rep.Signer() != "" {
			hint = "--sign-key's key " + l.rep.Signer() + " is not one the trust policy trusts for " + cell
		}
		return fmt.Errorf("%w (%s)", err, hint)
	}
	return err
}

// get returns a network's definition, nil if there is none.
func (l *netLog) get(name string) (*netDef, error) {
	cell, err := netCell(name)
	if err != nil {
		return nil, err
	}
	return decodeNetDef(l.rep.Value(cell))
}

// list returns the networks in the log, sorted by name.
func (l *netLog) list() []netDef {
	var out []netDef
	for _, c := range l.rep.Cells(netCellPrefix + "*") {
		if d, err := decodeNetDef(c.Value); err == nil && d != nil {
			out = append(out, *d)
		}
	}
	slices.SortFunc(out, func(a, b netDef) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// netLogFlags are the flags of the subcommands that use the log.
type netLogFlags struct {
	nf             natsFlags
	prefix, stream string
	trustFile      string // --trust: the policy the network cells are folded under
	signKeyFile    string // --sign-key (apply and rm): signs the network's update
}

func (f *netLogFlags) register(cmd *cobra.Command) {
	f.nf.register(cmd)
	cmd.Flags().StringVar(&f.prefix, "prefix", cellname.DefaultPrefix, "subject prefix of cells")
	cmd.Flags().StringVar(&f.stream, "stream", cellname.DefaultStream, "name of the stream keeping the update log")
	registerTrust(cmd, &f.trustFile)
}

// registerSign adds --sign-key, for the subcommands that write the log.
func (f *netLogFlags) registerSign(cmd *cobra.Command) {
	registerSignKey(cmd, &f.signKeyFile, "the network's update (for a trust policy that wants _dprop.network.* signed)")
}

func (f *netLogFlags) run(g *globals, fn func(ctx context.Context, l *netLog, out io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		log, err := g.logger()
		if err != nil {
			return err
		}
		trust, err := loadTrust(f.trustFile)
		if err != nil {
			return err
		}
		var key replica.Signer
		if f.signKeyFile != "" {
			kp, err := loadSignKey(f.signKeyFile, func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), "dprop: warning: "+msg) })
			if err != nil {
				return err
			}
			key = kp
		}
		l, closeLog, err := openNetLog(cmd.Context(), log, &f.nf, f.prefix, f.stream, trust, key)
		if err != nil {
			return err
		}
		defer closeLog()
		return fn(cmd.Context(), l, cmd.OutOrStdout())
	}
}

func newNetworkApplyCmd(g *globals) *cobra.Command {
	var (
		f    netLogFlags
		name string
	)
	cmd := &cobra.Command{
		Use:   "apply FILE",
		Short: "Check a network file and keep it in the log, where replicas started with --networks run it",
		Long: `Check a network file (as network check does: every problem as
FILE:LINE:COLUMN, exit status 1) and publish it into the log under its
name (--name, default the file's name without .yaml): the last-writer-wins
cell _dprop.network.<name>. Replicas started with --networks matching the
name load it, and follow every later apply of the same name without a
restart: propagators and templates that changed restart, the others run
on untouched.

Under a trust policy that wants _dprop.network.* signed, sign the update
with --sign-key FILE, and give --trust FILE (the replicas' policy) to have
an update the policy would refuse refused here, before it is published
(see docs/networks.md, "Signed networks").`,
		Example: `  dprop network apply testdata/networks/weather.yaml
  dprop network apply --name weather-eu weather.yaml
  dprop network apply --trust policy.yaml --sign-key admin.nk weather.yaml`,
		Args: cobra.ExactArgs(1),
	}
	f.register(cmd)
	f.registerSign(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the network's name (default: the file's name without its extension)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		file := args[0]
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		}
		if _, err := netCell(name); err != nil {
			return usagef("%v (give --name)", err)
		}
		src, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		d := &netDef{Name: name, File: file, Source: string(src)}
		if _, _, err := d.Build(file); err != nil {
			return problemsError(cmd, file, err)
		}
		return f.run(g, func(ctx context.Context, l *netLog, out io.Writer) error {
			if err := l.put(ctx, name, d); err != nil {
				return err
			}
			fmt.Fprintf(out, "network %s applied from %s\n", name, file)
			return nil
		})(cmd, args)
	}
	return cmd
}

// problemsError prints a network's problems, one a line, and returns the
// exit error; other errors are returned as they are.
func problemsError(cmd *cobra.Command, file string, err error) error {
	var ps network.Problems
	if !errors.As(err, &ps) {
		return err
	}
	for _, p := range ps {
		fmt.Fprintln(cmd.ErrOrStderr(), p.String())
	}
	return exitError{code: exitFailure, msg: fmt.Sprintf("%s: %d problem(s)", file, len(ps))}
}

func newNetworkRmCmd(g *globals) *cobra.Command {
	var f netLogFlags
	cmd := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a network from the log: the replicas running it stop its propagators",
		Args:  cobra.ExactArgs(1),
	}
	f.register(cmd)
	f.registerSign(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return f.run(g, func(ctx context.Context, l *netLog, out io.Writer) error {
			d, err := l.get(args[0])
			if err != nil {
				return err
			}
			if d == nil {
				return exitError{code: exitFailure, msg: fmt.Sprintf("no network %q in the log", args[0])}
			}
			if err := l.put(ctx, args[0], nil); err != nil {
				return err
			}
			fmt.Fprintf(out, "network %s removed\n", args[0])
			return nil
		})(cmd, args)
	}
	return cmd
}

func newNetworkLsCmd(g *globals) *cobra.Command {
	var f netLogFlags
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the networks kept in the log",
		Args:  cobra.NoArgs,
	}
	f.register(cmd)
	cmd.RunE = f.run(g, func(_ context.Context, l *netLog, out io.Writer) error {
		for _, d := range l.list() {
			desc := ""
			if _, b, err := d.Build(d.Name); err != nil {
				desc = "invalid: " + strings.SplitN(err.Error(), "\n", 2)[0]
			} else {
				desc = fmt.Sprintf("%d cells, %d cell patterns, %d propagators, %d templates", len(b.Types), len(b.Patterns), len(b.Propagators), len(b.Templates))
			}
			fmt.Fprintf(out, "%s\t%s\t(from %s)\n", d.Name, desc, d.File)
		}
		return nil
	})
	return cmd
}

func newNetworkGetCmd(g *globals) *cobra.Command {
	var f netLogFlags
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Print a network kept in the log, as it was applied",
		Args:  cobra.ExactArgs(1),
	}
	f.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return f.run(g, func(_ context.Context, l *netLog, out io.Writer) error {
			d, err := l.get(args[0])
			if err != nil {
				return err
			}
			if d == nil {
				return exitError{code: exitFailure, msg: fmt.Sprintf("no network %q in the log", args[0])}
			}
			_, err = io.WriteString(out, d.Source)
			return err
		})(cmd, args)
	}
	return cmd
}
