package graph

import (
	"encoding/json"
	"strconv"
)

// shortValue is an initial value as a box shows it: a number, an interval
// as [lo, hi], a range as min … max, else the wire form.
func shortValue(wire json.RawMessage) string {
	var v struct {
		Type     string
		Value    json.RawMessage
		Lo, Hi   *float64
		Min, Max *float64
	}
	if json.Unmarshal(wire, &v) != nil {
		return string(wire)
	}
	switch v.Type {
	case "number", "max", "min", "flag":
		return string(v.Value)
	case "interval":
		lo, hi := "(−∞", "∞)"
		if v.Lo != nil {
			lo = "[" + fnum(*v.Lo)
		}
		if v.Hi != nil {
			hi = fnum(*v.Hi) + "]"
		}
		return lo + ", " + hi
	case "range":
		if v.Min != nil && v.Max != nil {
			return fnum(*v.Min) + " … " + fnum(*v.Max)
		}
	}
	return string(wire)
}

func fnum(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }
