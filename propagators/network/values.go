package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/dprop/dprop/lattice"
	"go.yaml.in/yaml/v3"
)

// maxValueNodes bounds the YAML nodes of one value (aliases can repeat a
// node many times over).
const maxValueNodes = 100_000

// decodeValue turns a YAML value into a lattice value. typ is the type it
// should have (the cell's declared type), used by the shorthands:
//
//   - a string holding a JSON object is the wire form, as is;
//   - a mapping is the wire form written in YAML; "type" may be omitted;
//   - a bare number or boolean is {"type": typ, "value": it}, for number,
//     max, min and flag cells;
//   - a list is {"type": "set", "elems": it}, for set cells.
func decodeValue(n *yaml.Node, typ string) (lattice.Value, error) {
	n = deref(n)
	var data []byte
	var err error
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && strings.HasPrefix(strings.TrimSpace(n.Value), "{"):
		data = []byte(n.Value)
	case n.Kind == yaml.MappingNode:
		data, err = wireMapping(n, typ)
	case n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float" || n.ShortTag() == "!!bool"):
		switch typ {
		case lattice.TypeNumber, lattice.TypeMax, lattice.TypeMin, lattice.TypeFlag:
		default:
			return nil, fmt.Errorf("a bare %s is a value only for number, max, min and flag cells; write a mapping such as {type: %s, ...}", strings.TrimPrefix(kindName(n), "a "), typ)
		}
		data, err = wrap(typ, "value", n)
	case n.Kind == yaml.SequenceNode && typ == lattice.TypeSet:
		data, err = wrap(typ, "elems", n)
	default:
		return nil, fmt.Errorf("a value is a mapping such as {type: %s, ...} or its JSON wire form, got %s", typ, kindName(n))
	}
	if err != nil {
		return nil, err
	}
	v, err := lattice.Decode(data)
	if err != nil {
		return nil, decodeMessage(err)
	}
	return v, nil
}

// wireMapping encodes a YAML mapping as the JSON wire form, adding the type
// when it is omitted.
func wireMapping(n *yaml.Node, typ string) ([]byte, error) {
	budget := maxValueNodes
	j, err := toJSON(n, &budget)
	if err != nil {
		return nil, err
	}
	m := j.(map[string]any)
	if _, ok := m["type"]; !ok {
		m["type"] = typ
	}
	return json.Marshal(m)
}

// wrap encodes {"type": typ, field: n}.
func wrap(typ, field string, n *yaml.Node) ([]byte, error) {
	budget := maxValueNodes
	j, err := toJSON(n, &budget)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"type": typ, field: j})
}

// toJSON converts a YAML node into the values encoding/json marshals.
func toJSON(n *yaml.Node, budget *int) (any, error) {
	n = deref(n)
	if *budget--; *budget < 0 {
		return nil, errors.New("value too large")
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := deref(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("a field name must be a string, got %s", kindName(k))
			}
			v, err := toJSON(n.Content[i+1], budget)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := toJSON(c, budget)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return nil, fmt.Errorf("%s is not a finite number", n.Value)
	}
	return v, nil
}

// decodeMessage restates a lattice decode error without its byte offset,
// which would point into JSON the user did not write.
func decodeMessage(err error) error {
	var de *lattice.DecodeError
	if !errors.As(err, &de) {
		return err
	}
	prefix, detail := "", ""
	if de.Path != "" {
		prefix = de.Path + ": "
	}
	if de.Detail != "" {
		detail = ": " + de.Detail
	}
	return fmt.Errorf("%s%w%s", prefix, de.Err, detail)
}
