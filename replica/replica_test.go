package replica_test

import (
	"errors"
	"testing"

	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

func TestRefineReadYourWrites(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL())
	ctx := ctxT(t)
	days := []string{
		`{"type":"range","min":34,"max":48}`,
		`{"type":"range","min":36,"max":43}`,
		`{"type":"range","min":33,"max":36}`,
		`{"type":"range","min":31,"max":42}`,
		`{"type":"range","min":31,"max":57}`,
	}
	want := []string{
		`{"type":"range","min":34,"max":48}`,
		`{"type":"range","min":34,"max":48}`,
		`{"type":"range","min":33,"max":48}`,
		`{"type":"range","min":31,"max":48}`,
		`{"type":"range","min":31,"max":57}`,
	}
	for i, d := range days {
		c, err := r.Refine(ctx, "weather.boston.temp", mustDecode(t, d))
		if err != nil {
			t.Fatalf("refine day %d: %v", i+1, err)
		}
		if got := enc(c.Value); got != want[i] {
			t.Errorf("after day %d: %s, want %s", i+1, got, want[i])
		}
		if c.Updates != uint64(i+1) || c.Type != "range" || c.ETag != fold.ETag(c.Value) {
			t.Errorf("after day %d: cell %+v", i+1, c)
		}
	}
	if _, err := r.Refine(ctx, "weather.boston.temp", mustDecode(t, `{"type":"max","value":1}`)); !errors.Is(err, fold.ErrTypeMismatch) {
		t.Errorf("refine with another type: %v, want ErrTypeMismatch", err)
	}
	if _, err := r.Refine(ctx, "bad name", lattice.Max{Value: 1}); !errors.Is(err, cellname.ErrBad) {
		t.Errorf("refine bad name: %v, want cellname.ErrBad", err)
	}
}
