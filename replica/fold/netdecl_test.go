package fold

import (
	"errors"
	"strings"
	"testing"

	"github.com/dprop/dprop/lattice"
)

// declsOf is a Limits.Networks for tests: an lww network cell whose raw
// value is "pattern=type,..." declares cells by prefix (a trailing *) or
// exactly; "null" declares nothing.
func declsOf(v lattice.Value) Declarations {
	l, ok := v.(*lattice.LWW)
	if !ok || string(l.Raw()) == "null" {
		return nil
	}
	var s string
	if err := jsonString(l.Raw(), &s); err != nil {
		return nil
	}
	rules := strings.Split(s, ",")
	return func(cell string) (string, bool) {
		for _, r := range rules {
			pat, typ, _ := strings.Cut(r, "=")
			if pat == cell || (strings.HasSuffix(pat, "*") && strings.HasPrefix(cell, strings.TrimSuffix(pat, "*"))) {
				return typ, true
			}
		}
		return "", false
	}
}

func jsonString(raw []byte, s *string) error {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return errors.New("not a plain string")
	}
	*s = string(raw[1 : len(raw)-1])
	return nil
}

func netUpdate(raw string, ts int64) string {
	v, err := lattice.NewLWW([]byte(raw), ts, "w")
	if err != nil {
		panic(err)
	}
	return string(lattice.Encode(v))
}

func TestNetworkDeclarationsTypeNewCells(t *testing.T) {
	c := NewCore("", nil, Limits{Networks: declsOf})
	apply(c, "w.old", 1, `{"type":"max","value":1}`) // typed before any network
	apply(c, NetworkCells+"b", 2, netUpdate(`"w.*=max"`, 1))
	apply(c, NetworkCells+"a", 3, netUpdate(`"w.*=range,x=gcounter"`, 1))
	if got := c.NetworkDeclarations(); len(got) != 2 || got[0] != NetworkCells+"a" {
		t.Fatalf("networks declaring = %v", got)
	}
	// network a comes first by name: w.new is a range
	r := apply(c, "w.new", 4, `{"type":"max","value":3}`)
	var re *RefusedError
	if !errors.As(r.Err, &re) || re.Reason != ReasonTypeMismatch {
		t.Fatalf("max into a cell declared range: %+v", r)
	}
	if r := apply(c, "w.new", 5, `{"type":"range","min":1,"max":2}`); r.Err != nil || r.Type != "range" {
		t.Fatalf("range refused: %+v", r)
	}
	if r := apply(c, "w.old", 6, `{"type":"max","value":4}`); r.Err != nil || r.Type != "max" {
		t.Fatalf("a cell typed before the network changed its rules: %+v", r)
	}
	if got := c.Type("x"); got != "gcounter" {
		t.Errorf("Type of a declared cell without updates = %q", got)
	}
	if err := c.CheckType("w.other", lattice.Max{Value: 1}); err == nil {
		t.Errorf("CheckType let a max into a cell declared range")
	}
	// network a removed: b's declaration applies to cells still untyped,
	// and w.new keeps its type.
	apply(c, NetworkCells+"a", 7, netUpdate(`null`, 2))
	if r := apply(c, "w.next", 8, `{"type":"range","min":1,"max":2}`); r.Err == nil {
		t.Fatalf("range into a cell network b declares max: %+v", r)
	}
	if r := apply(c, "w.new", 9, `{"type":"range","min":0,"max":2}`); r.Err != nil {
		t.Fatalf("w.new lost its type: %+v", r)
	}
	// a network cell is never typed by a network
	if got := c.Type(NetworkCells + "zz"); got != "" {
		t.Errorf("network cell declared %q", got)
	}
	// forgotten, the network declares nothing
	c.Apply("dprop.forget."+NetworkCells+"b", 10, nil)
	if got := c.NetworkDeclarations(); len(got) != 0 {
		t.Errorf("after forget: %v", got)
	}

	// a core restored from the cells has the same declarations
	c2 := NewCore("", nil, Limits{Networks: declsOf})
	apply(c, NetworkCells+"a", 11, netUpdate(`"w.*=range"`, 3))
	var cells []Cell
	c.Each(func(cl Cell) bool { cells = append(cells, cl); return true })
	c2.Restore(c.LastSeq(), cells...)
	if got := c2.Type("w.fresh"); got != "range" {
		t.Errorf("restored core types w.fresh %q", got)
	}
	if r := apply(c2, "w.fresh", 12, `{"type":"max","value":3}`); r.Err == nil {
		t.Errorf("restored core let a max into a declared range")
	}
	// without the hook, nothing is declared
	c3 := NewCore("", nil, Limits{})
	apply(c3, NetworkCells+"a", 1, netUpdate(`"w.*=range"`, 1))
	if r := apply(c3, "w.x", 2, `{"type":"max","value":3}`); r.Err != nil {
		t.Errorf("no hook, yet refused: %+v", r)
	}
}
