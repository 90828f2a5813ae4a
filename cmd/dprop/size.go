package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// byteSize is a flag holding a number of bytes, written as nats-server's
// configuration files write sizes: a number, optionally followed by K, M,
// G or T (powers of 1000) or KiB, MiB, GiB, TiB, also spelled Ki or KB
// and so on (powers of 1024), in any case. 0 means "no limit" or "the
// default", as the flag says.
type byteSize int64

var _ pflag.Value = (*byteSize)(nil)

// sizeUnits are the suffixes, longest first within each power.
var sizeUnits = []struct {
	suffixes []string
	mult     int64
}{
	{[]string{"tib", "ti", "tb"}, 1 << 40}, {[]string{"t"}, 1e12},
	{[]string{"gib", "gi", "gb"}, 1 << 30}, {[]string{"g"}, 1e9},
	{[]string{"mib", "mi", "mb"}, 1 << 20}, {[]string{"m"}, 1e6},
	{[]string{"kib", "ki", "kb"}, 1 << 10}, {[]string{"k"}, 1e3},
	{[]string{"b"}, 1},
}

func (b *byteSize) Set(s string) error {
	text, mult := cutSizeUnit(strings.ToLower(strings.TrimSpace(s)))
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return fmt.Errorf("%q is not a size in bytes (such as 512MiB, 2GiB or 1073741824)", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// cutSizeUnit splits a lower-case size into its number and its unit's
// multiplier (1 without a unit).
func cutSizeUnit(text string) (string, int64) {
	for _, u := range sizeUnits {
		for _, suffix := range u.suffixes {
			if num, ok := strings.CutSuffix(text, suffix); ok {
				return strings.TrimSpace(num), u.mult
			}
		}
	}
	return text, 1
}

func (b *byteSize) Type() string { return "bytes" }

// String writes the size with the largest unit that divides it, binary
// before decimal.
func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"T", 1e12}, {"GiB", 1 << 30}, {"G", 1e9}, {"MiB", 1 << 20}, {"M", 1e6}, {"KiB", 1 << 10}, {"K", 1e3}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// registerJetStreamLimits adds --js-max-memory and --js-max-storage to the
// commands that run a broker (broker, up).
func registerJetStreamLimits(fl *pflag.FlagSet, mem, store *byteSize) {
	fl.Var(mem, "js-max-memory", "bytes JetStream may keep in memory-backed streams (dprop's stream is on disk; 0: the config file's, else 75% of the host's memory, "+
		"whatever a container's limit). Sizes as in nats-server's files: 256MiB, 1GiB")
	fl.Var(store, "js-max-storage", "bytes JetStream may keep on disk, the stream's --stream-max-bytes included: past it writes are refused "+
		"(0: the config file's, else 75% of the free disk)")
}

// registerStreamMaxBytes adds --stream-max-bytes to the commands that may
// create the stream (broker, up, replica).
func registerStreamMaxBytes(fl *pflag.FlagSet, p *byteSize) {
	fl.Var(p, "stream-max-bytes", "byte limit of the stream, if this command creates it (0: none). A full stream refuses new updates "+
		"(refines answer 503 stream_full) and never drops old ones; compaction makes room. An existing stream keeps its own (see docs/deploy.md, Limits)")
}

// checkStreamFits refuses a stream limit larger than the store it would
// be reserved in: JetStream would refuse to create the stream.
func checkStreamFits(stream, store byteSize) error {
	if stream > 0 && store > 0 && stream > store {
		return usagef("--stream-max-bytes %s is more than --js-max-storage %s: JetStream reserves the stream's limit in its store, "+
			"and would refuse to create it", stream.String(), store.String())
	}
	return nil
}
