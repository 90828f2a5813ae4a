package main

import (
	"testing"

	"github.com/dprop/dprop/lattice"
)

// The banner's example values decode, as the type they are shown for, for
// every type a cell can be declared with.
func TestExampleValues(t *testing.T) {
	for _, typ := range lattice.Types() {
		if typ == "nothing" || typ == "contradiction" {
			continue
		}
		v, err := lattice.Decode([]byte(exampleValue(typ)))
		if err != nil || v.Type() != typ {
			t.Errorf("exampleValue(%q) = %s: %v", typ, exampleValue(typ), err)
		}
	}
}
