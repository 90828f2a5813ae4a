package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/dprop/dprop/replica/httpapi"
	"github.com/spf13/cobra"
)

// clientFlags are the flags of the commands that talk to a sidecar.
type clientFlags struct {
	url  string
	json bool
}

func (f *clientFlags) register(cmd *cobra.Command) {
	def := os.Getenv("DPROP_URL")
	if def == "" {
		def = "http://" + defaultHTTP
	}
	cmd.Flags().StringVar(&f.url, "url", def, "URL of the sidecar's HTTP API (env DPROP_URL)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON for scripts")
}

func (f *clientFlags) client() *httpapi.Client { return httpapi.NewClient(f.url, nil) }

// addClientCommands adds the commands that use a sidecar's HTTP API.
func addClientCommands(root *cobra.Command) {
	root.AddCommand(newGetCmd(), newRefineCmd(), newWatchCmd(), newCellsCmd(), newHistoryCmd())
}

// clientError turns an API or connection error into a message that says
// what to do.
func clientError(url string, err error) error {
	var apiErr *httpapi.APIError
	if errors.As(err, &apiErr) {
		msg := apiErr.Message
		if apiErr.Cell != "" && !strings.Contains(msg, apiErr.Cell) {
			msg = fmt.Sprintf("cell %s: %s", apiErr.Cell, msg)
		}
		return exitError{code: exitFailure, msg: fmt.Sprintf("%s (HTTP %d)", msg, apiErr.Status)}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return exitError{code: exitFailure, msg: fmt.Sprintf("cannot reach a sidecar at %s: %v\nStart one with 'dprop up', or point --url (or DPROP_URL) at a running one.", url, opErr.Err)}
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// readJSONArg returns the JSON given as an argument, or stdin for "-".
func readJSONArg(arg string, stdin io.Reader) ([]byte, error) {
	if arg != "-" {
		return []byte(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	return b, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
