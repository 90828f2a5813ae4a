package lattice

import (
	"slices"
	"strconv"
	"unsafe"
)

func itoa(i int) string { return strconv.Itoa(i) }

// sortedStrings returns the distinct strings of ss in byte order (a new slice).
func sortedStrings(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// unionStrings merges two sorted distinct slices. It returns a itself when b
// adds nothing.
func unionStrings(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	out = append(out, b[j:]...)
	if len(out) == len(a) {
		return a
	}
	return out
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// strings returns the array-of-strings field name, copied out of the input.
func (o *object) strings(name string, required bool) ([]string, bool, error) {
	sp, ok, err := o.kind(name, kindArray, "an array of strings", required)
	if err != nil || !ok {
		return nil, ok, err
	}
	var buf [8]span
	items := o.d.r.items(sp, buf[:0])
	if err := o.count(name, sp, len(items)); err != nil {
		return nil, true, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		if it.kind != kindString {
			return nil, true, o.d.r.errAt(it.start, ErrFieldType, strconv.Quote(name)+"["+itoa(i)+"] must be a string, got "+kindName(it.kind))
		}
		out[i] = o.d.keep(o.d.r.spanString(it))
	}
	return out, true, nil
}

// stringOf views b as a string; b must never be modified afterwards.
func stringOf(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }
