package lattice

import (
	"slices"
	"strconv"
	"strings"
)

// Map maps string keys to lattice values and merges per key, recursively. A
// key whose two sides hold values of different types becomes a Contradiction
// at that key only; the rest of the map is unaffected. A key holding Nothing
// is the same as an absent key.
// Wire form: {"type":"map","entries":{"k":{"type":"max","value":1}}}.
type Map struct {
	entries []MapEntry // sorted by key, no Nothing values
}

// MapEntry is one key of a Map.
type MapEntry struct {
	Key   string
	Value Value
}

// NewMap returns the map of the given entries (Nothing values are dropped).
func NewMap(entries map[string]Value) *Map {
	m := &Map{}
	for k, v := range entries {
		if !IsNothing(v) {
			m.entries = append(m.entries, MapEntry{k, v})
		}
	}
	slices.SortFunc(m.entries, func(a, b MapEntry) int { return strings.Compare(a.Key, b.Key) })
	return m
}

// Entries returns the entries sorted by key (caller must not modify).
func (m *Map) Entries() []MapEntry { return m.entries }

// Get returns the value at key (Nothing when absent).
func (m *Map) Get(key string) Value {
	if i, ok := slices.BinarySearchFunc(m.entries, key, func(e MapEntry, k string) int { return strings.Compare(e.Key, k) }); ok {
		return m.entries[i].Value
	}
	return Nothing{}
}

// Type implements Value.
func (*Map) Type() string { return TypeMap }

// AppendJSON implements Value.
func (m *Map) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"map","entries":{`...)
	for i, e := range m.entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, e.Key)
		dst = append(dst, ':')
		dst = e.Value.AppendJSON(dst)
	}
	return append(dst, "}}"...)
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (m *Map) MarshalJSON() ([]byte, error) { return m.AppendJSON(nil), nil }

func (m *Map) join(o Value) (Value, bool) {
	n, ok := o.(*Map)
	if !ok {
		return newTypeConflict(m, o), true
	}
	var out []MapEntry
	changed := false
	i, j := 0, 0
	for i < len(m.entries) || j < len(n.entries) {
		var c int
		switch {
		case i == len(m.entries):
			c = 1
		case j == len(n.entries):
			c = -1
		default:
			c = strings.Compare(m.entries[i].Key, n.entries[j].Key)
		}
		switch {
		case c < 0:
			out = append(out, m.entries[i])
			i++
		case c > 0:
			out = append(out, n.entries[j])
			changed = true
			j++
		default:
			v, ch := merge(m.entries[i].Value, n.entries[j].Value)
			out = append(out, MapEntry{m.entries[i].Key, v})
			changed = changed || ch
			i++
			j++
		}
	}
	if !changed {
		return m, false
	}
	return &Map{entries: out}, true
}

func decodeMap(o *object) (Value, error) {
	if err := o.only("entries"); err != nil {
		return nil, err
	}
	sp, _, err := o.kind("entries", kindObject, "an object of key to lattice value", true)
	if err != nil {
		return nil, err
	}
	var fs fields
	if err := o.d.r.members(sp, &fs); err != nil {
		return nil, prefixPath(err, "entries")
	}
	if err := o.count("entries", sp, fs.len()); err != nil {
		return nil, err
	}
	m := &Map{entries: make([]MapEntry, 0, fs.len())}
	for i := range fs.len() {
		f := fs.get(i)
		v, err := o.d.valueAt(f.val, o.depth+2)
		if err != nil {
			return nil, prefixPath(err, "entries."+pathKey(f.key))
		}
		if !IsNothing(v) {
			m.entries = append(m.entries, MapEntry{o.d.keep(f.key), v})
		}
	}
	slices.SortFunc(m.entries, func(a, b MapEntry) int { return strings.Compare(a.Key, b.Key) })
	return m, nil
}

// pathKey quotes a key for an error path when it would be ambiguous.
func pathKey(k string) string {
	if k == "" || strings.ContainsAny(k, ". \"[]") {
		return strconv.Quote(k)
	}
	return k
}
