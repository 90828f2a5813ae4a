package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
	cmd.Flags().StringVar(&f.url, "url", def, "URL of the sidecar's HTTP API, or its host:port (env DPROP_URL)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON for scripts")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		u, err := sidecarURL(f.url)
		if err != nil {
			from := "--url"
			if !cmd.Flags().Changed("url") {
				from = "DPROP_URL"
			}
			return usagef("%s %q: %w", from, f.url, err)
		}
		f.url = u
		return nil
	}
}

func (f *clientFlags) client() *httpapi.Client { return f.clientFor(f.url) }

// clientFor is a client of the sidecar at url, with f's settings.
func (f *clientFlags) clientFor(url string) *httpapi.Client { return httpapi.NewClient(url, nil) }

// sidecarURL turns what a user may give as the sidecar's address into the
// base URL the client wants: host:port means http://host:port, and a
// trailing / or /v1 (the API's own prefix, which the client adds) is
// dropped. Anything else that cannot be the base URL of the API is an
// error that says why.
//
// This is the CLI's business rather than httpapi.NewClient's: it reads what
// people type (NewClient takes a program's well-formed URL and has no
// error to return), and flags are parsed in cmd.
func sidecarURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("empty; give the sidecar's address, such as http://%s", defaultHTTP)
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without "parse URL:", the message quotes it
		}
		return "", fmt.Errorf("not a URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
	case "nats", "tls", "ws", "wss":
		return "", fmt.Errorf("that is a NATS server's address; --url is the sidecar's HTTP API, such as http://%s", defaultHTTP)
	default:
		return "", fmt.Errorf("scheme %q: use http:// or https://", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("no host; give the sidecar's address, such as http://%s", defaultHTTP)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("a base URL has no query or fragment")
	}
	p := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1")
	if i := strings.Index(p+"/", "/v1/"); i >= 0 {
		return "", fmt.Errorf("path %s is inside the API; give its base URL, %s", u.Path, u.Scheme+"://"+u.Host+p[:i])
	}
	u.Path, u.RawPath = p, ""
	return u.String(), nil
}

// addClientCommands adds the commands that use a sidecar's HTTP API.
func addClientCommands(root *cobra.Command) {
	root.AddCommand(newGetCmd(), newRefineCmd(), newWatchCmd(), newCellsCmd(), newHistoryCmd(), newStatusCmd())
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
		msg = fmt.Sprintf("%s (HTTP %d)", msg, apiErr.Status)
		if cell, ok := subjectCell(apiErr.Cell); ok && apiErr.Status == http.StatusNotFound {
			msg += fmt.Sprintf("\n%s is a NATS subject; the cell is %s.", apiErr.Cell, cell)
		}
		return exitError{code: exitFailure, msg: msg}
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

// subjectCell reports whether name looks like a cell's NATS subject
// (PREFIX.cell.NAME) rather than a cell name, and returns the cell's name.
func subjectCell(name string) (string, bool) {
	prefix, rest, ok := strings.Cut(name, ".")
	if !ok || prefix == "" {
		return "", false
	}
	cell, ok := strings.CutPrefix(rest, "cell.")
	return cell, ok && cell != ""
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
