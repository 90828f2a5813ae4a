package fold_test

import (
	"fmt"

	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica/fold"
)

// The seed's temperature demo, folded by hand: five days of ranges, one of
// which adds nothing, and one bad update that is refused and loses nothing.
func Example() {
	core := fold.NewCore("dprop", nil, fold.Limits{})
	days := []string{
		`{"type":"range","min":34,"max":48}`,
		`{"type":"range","min":36,"max":43}`,
		`{"type":"range","min":60,"max":50}`,
		`{"type":"range","min":31,"max":42}`,
		`{"type":"range","min":31,"max":57}`,
	}
	for i, day := range days {
		res := core.Apply("dprop.cell.weather.boston.temp", uint64(i+1), []byte(day))
		switch {
		case res.Err != nil:
			fmt.Println(res.Seq, "refused:", res.Err.(*fold.RefusedError).Reason)
		case res.Changed:
			fmt.Println(res.Seq, "changed:", string(lattice.Encode(res.Value)))
		default:
			fmt.Println(res.Seq, "no change")
		}
	}
	cell, _ := core.Get("weather.boston.temp")
	fmt.Println(cell.Type, cell.Updates, "updates, last change at", cell.Seq)
	// Output:
	// 1 changed: {"type":"range","min":34,"max":48}
	// 2 no change
	// 3 refused: invalid_value
	// 4 changed: {"type":"range","min":31,"max":48}
	// 5 changed: {"type":"range","min":31,"max":57}
	// range 4 updates, last change at 5
}
