package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
)

// dprop compact says what it did with every cell it was asked to compact
// and why it left the others, and exits with status 1 when it could not
// compact one: here a join larger than the broker's maximum payload,
// though each of its updates fits.
func TestCompactReportsWhatItLeft(t *testing.T) {
	conf := brokertest.WriteFile(t, "small.conf", "max_payload: 65536\n")
	srv := brokertest.RunWithStream(t, brokertest.WithConfigFile(conf))
	js := brokertest.JetStream(t, brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}}))
	ctx := brokertest.Context(t)
	set := func(first, n int) string {
		elems := make([]string, n)
		for i := range elems {
			elems[i] = fmt.Sprintf(`"e%07d"`, first+i)
		}
		return `{"type":"set","elems":[` + strings.Join(elems, ",") + `]}`
	}
	for _, m := range []struct{ cell, payload string }{
		{"big", set(0, 3600)}, {"big", set(3600, 3600)}, // 40 kB each, 80 kB together
		{"small", `{"type":"max","value":1}`}, {"small", `{"type":"max","value":2}`},
		{"once", `{"type":"max","value":1}`},
	} {
		if _, err := js.Publish(ctx, "dprop.cell."+m.cell, []byte(m.payload)); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := runCmd(t, dpropBin, "compact", "--nats-url", srv.ClientURL())
	want := "rollup: 3 cells, 1 compacted; left as they were: 1 with nothing to compact, 1 too large to publish as one update, 0 written meanwhile (retry later), 0 failed"
	if code != 1 || !strings.HasPrefix(out, want) || !strings.Contains(errOut, "compaction incomplete") {
		t.Fatalf("compact: status %d, output %q, errors:\n%s\nwant status 1 and %q", code, out, errOut, want)
	}
}
