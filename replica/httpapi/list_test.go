package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/httpapi"
)

// publishCells publishes one update to each of n cells, name(i) for i in
// [0, n), straight to the stream, and waits for every acknowledgement.
func publishCells(t testing.TB, url string, n int, name func(i int) string) {
	t.Helper()
	js, err := jetstream.New(connect(t, url), jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		v := lattice.Range{Min: float64(i), Max: float64(i + 10)}
		if _, err := js.PublishAsync("dprop.cell."+name(i), lattice.Encode(v)); err != nil {
			t.Fatal(err)
		}
		if i%2048 == 2047 {
			<-js.PublishAsyncComplete()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctxT(t).Done():
		t.Fatal("publishes not acknowledged")
	}
}

// GET /v1/cells is paged: limit cells at most (1000 by default), sorted by
// name, and a next cursor while more follow; walking the cursors lists
// every cell once. Bad limits and cursors are 400.
func TestListCellsPaged(t *testing.T) {
	srv := runBroker(t)
	const n = httpapi.MaxListLimit + 50
	publishCells(t, srv.ClientURL(), n, func(i int) string { return fmt.Sprintf("p.%s.c%05d", []string{"a", "b"}[i%2], i) })
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})

	page := func(query string) httpapi.CellsPage {
		t.Helper()
		a := sc.do(t, "GET", "/v1/cells"+query, "").want(t, http.StatusOK)
		var p httpapi.CellsPage
		if err := json.Unmarshal([]byte(a.body), &p); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return p
	}
	first := page("")
	if len(first.Cells) != httpapi.DefaultListLimit || first.Next == "" || first.Cells[0].Name != "p.a.c00000" || first.Cells[0].Value != nil {
		t.Fatalf("first page: %d cells, next %q, first %+v", len(first.Cells), first.Next, first.Cells[0])
	}

	var names []string
	pages := 0
	for next := ""; ; pages++ {
		q := "?match=p.b.>&values=true&limit=1500"
		if next != "" {
			q += "&after=" + next
		}
		p := page(q)
		for _, c := range p.Cells {
			if c.Value == nil || c.Type != "range" {
				t.Fatalf("cell without its value: %+v", c)
			}
			names = append(names, c.Name)
		}
		if p.Next == "" {
			break
		}
		if len(p.Cells) != 1500 {
			t.Fatalf("a page of %d cells before the last", len(p.Cells))
		}
		next = p.Next
	}
	if len(names) != n/2 || pages != n/2/1500 || !slices.IsSorted(names) {
		t.Fatalf("walk: %d cells in %d pages, sorted %v", len(names), pages+1, slices.IsSorted(names))
	}
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Fatal("a cell listed twice")
	}

	// The Go client follows pages.
	all, err := sc.c.Cells(ctxT(t), "")
	if err != nil || len(all) != n || all[n-1].Name != "p.b.c10049" {
		t.Fatalf("Client.Cells: %d cells, %v", len(all), err)
	}
	count := 0
	for c, err := range sc.c.AllCells(ctxT(t), httpapi.ListOptions{Match: "p.a.>", Limit: 999, After: first.Next}) {
		if err != nil {
			t.Fatal(err)
		}
		if c.Name <= first.Cells[len(first.Cells)-1].Name {
			t.Fatalf("%s listed after the cursor", c.Name)
		}
		count++
	}
	if count != n/2-httpapi.DefaultListLimit { // the first page holds p.a cells only
		t.Fatalf("AllCells after the first page: %d cells", count)
	}

	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, q := range []string{"limit=0", "limit=-1", "limit=x", fmt.Sprintf("limit=%d", httpapi.MaxListLimit+1),
		"after=***", "after=" + cursor("a b"), "after=" + cursor("a..b")} {
		a := sc.do(t, "GET", "/v1/cells?"+q, "").want(t, http.StatusBadRequest)
		if _, _, reason := errorOf(t, a); reason != httpapi.ReasonBadParameter {
			t.Fatalf("%s: reason %q", q, reason)
		}
	}
	if p := page("?after=" + cursor("p.b.c10049")); len(p.Cells) != 0 || p.Next != "" {
		t.Fatalf("after the last cell: %+v", p)
	}
}
