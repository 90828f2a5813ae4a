package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dprop/dprop/replica"
)

// version, when set at build time (-ldflags "-X main.version=v1.2.3"),
// overrides the module version of the build information.
var version = ""

// buildVersion is what a binary knows of its own making.
type buildVersion struct {
	// Version is the module version: v1.2.3 for a binary built by
	// 'go install github.com/dprop/dprop/cmd/dprop@v1.2.3', a
	// pseudo-version or "devel" for one built from a work tree.
	Version string `json:"version"`
	// Go is the Go version it was built with.
	Go string `json:"go"`
	// Revision is the VCS revision built, when the build recorded it.
	Revision string `json:"revision,omitempty"`
	// Modified says whether the work tree had uncommitted changes.
	Modified bool `json:"modified"`
	// Writer is the writer id kept under --data (a sidecar's, see
	// replica.LoadWriterID), when there is one.
	Writer string `json:"writer,omitempty"`
}

// readBuildVersion reads the binary's build information.
func readBuildVersion() buildVersion {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return buildVersionOf(info, version)
}

// buildVersionOf takes the version from override (set with -ldflags), or
// else the module version of info (nil when the binary has none), or else
// "devel", and the revision from info's VCS settings.
func buildVersionOf(info *debug.BuildInfo, override string) buildVersion {
	v := buildVersion{Version: override}
	if info == nil {
		if v.Version == "" {
			v.Version = "devel"
		}
		return v
	}
	v.Go = info.GoVersion
	if v.Version == "" && info.Main.Version != "(devel)" {
		v.Version = info.Main.Version
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the one-line form: "v1.2.3 (0123456789ab, modified) go1.26.8".
func (v buildVersion) String() string {
	s := v.Version
	switch rev := v.Revision; {
	case rev != "" && v.Modified:
		s += " (" + rev[:min(12, len(rev))] + ", modified)"
	case rev != "":
		s += " (" + rev[:min(12, len(rev))] + ")"
	case v.Modified:
		s += " (modified)"
	}
	if v.Go != "" {
		s += " " + v.Go
	}
	return s
}

func newVersionCmd() *cobra.Command {
	var (
		asJSON bool
		data   string
	)
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Long: `Print dprop's version, the VCS revision it was built from (when the build
recorded it) and the Go version; with --json, as an object with the fields
version, go, revision and modified, and writer: the writer id of the
sidecar whose data directory --data names (dprop up's or dprop replica's),
if it has one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := readBuildVersion()
			v.Writer = keptWriterID(data)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "dprop "+v.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for scripts")
	cmd.Flags().StringVar(&data, "data", defaultData, "data directory whose writer id to report (dprop up's, or dprop replica's --data)")
	return cmd
}

// keptWriterID reads the writer id kept under data, by dprop up (in
// data/replica) or dprop replica (in data), without creating one; "" if
// there is none.
func keptWriterID(data string) string {
	for _, dir := range []string{filepath.Join(data, "replica"), data} {
		if b, err := os.ReadFile(filepath.Join(dir, replica.WriterIDFile)); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}
