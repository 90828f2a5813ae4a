// Command dprop runs and uses a dprop store: an embedded broker with a
// replica and its HTTP API (up), a broker node alone (broker), a sidecar
// replica against any NATS (replica), and clients of a sidecar (get,
// refine, watch, cells).
//
// Exit status: 0 success, 1 failure, 2 usage error, 3 a refine whose
// result is a contradiction (dprop refine merged the value, and the cell
// now holds a contradiction).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitContradiction: refine merged the value and the cell is now a
	// contradiction.
	exitContradiction = 3
	// exitPending: dprop outbox found updates pending.
	exitPending = 3
)

// usageError marks an error as the user's invocation being wrong.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit status.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "dprop: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
		return exitUsage
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "dprop: "+ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(os.Stderr, "dprop: %v\n", err)
	return exitFailure
}

// exitError ends the command with a given status and message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// globals are the flags every command has.
type globals struct {
	logFormat string
	logLevel  string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "dprop",
		Short: "A replicated store of cells that only gain information",
		Long: `dprop keeps cells that hold partial information (join-semilattice values,
state-based CRDTs) on NATS subjects. Updates merge, never overwrite; a
JetStream stream keeps the log that replicas replay to resynchronize; and
propagators refine cells from other cells.

Start everything on this machine with 'dprop up', then publish with the
nats CLI and read with curl or 'dprop get'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readBuildVersion().String(),
	}
	root.SetVersionTemplate("dprop {{.Version}}\n")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newUpCmd(g),
		newBrokerCmd(g),
		newReplicaCmd(g),
		newReplayCmd(g),
		newRestoreCmd(g),
		newCompactCmd(g),
		newForgetCmd(g),
		newNetworkCmd(g),
		newAccessCmd(),
		newKeygenCmd(),
		newProbeCmd(),
		newFeedCmd(),
		newBenchCmd(g),
		newVersionCmd(),
	)
	addClientCommands(root)
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes argument-count errors usage errors (exit status 2).
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// renameFlags keeps the old spellings of cmd's flags working, hidden from
// its help: renamed maps each old name to the current one.
func renameFlags(cmd *cobra.Command, renamed map[string]string) {
	cmd.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := renamed[name]; ok {
			return pflag.NormalizedName(to)
		}
		return pflag.NormalizedName(name)
	})
}
