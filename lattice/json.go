package lattice

import (
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// This file holds a small, strict JSON reader and the canonical writer.
//
// The reader never builds a generic tree: it validates the input and hands
// out byte spans, so decoding a small value costs no allocation beyond the
// value itself. It accepts exactly RFC 8259 JSON (UTF-8 only, no duplicate
// keys in objects that are decoded as lattice values).

// JSON value kinds, by their first byte.
const (
	kindObject = '{'
	kindArray  = '['
	kindString = '"'
	kindNumber = '0'
	kindTrue   = 't'
	kindFalse  = 'f'
	kindNull   = 'n'
)

func kindName(k byte) string {
	switch k {
	case kindObject:
		return "object"
	case kindArray:
		return "array"
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindTrue, kindFalse:
		return "boolean"
	case kindNull:
		return "null"
	}
	return "value"
}

// span is one JSON value inside the input.
type span struct {
	start, end int
	kind       byte
}

// field is one member of a JSON object.
type field struct {
	key string // unescaped; aliases the input when it had no escapes
	val span
}

// fields is an object's members in input order. The inline array keeps small
// objects off the heap (a slice into it would move it there).
type fields struct {
	inline [6]field
	n      int
	more   []field
}

func (fs *fields) add(f field) {
	if fs.n < len(fs.inline) {
		fs.inline[fs.n] = f
		fs.n++
		return
	}
	fs.more = append(fs.more, f)
}

func (fs *fields) len() int { return fs.n + len(fs.more) }

func (fs *fields) get(i int) *field {
	if i < len(fs.inline) {
		return &fs.inline[i]
	}
	return &fs.more[i-len(fs.inline)]
}

// reader validates JSON and hands out spans.
type reader struct {
	data []byte
	pos  int
	lim  Limits
}

func (r *reader) errAt(pos int, err error, detail string) *DecodeError {
	return &DecodeError{Offset: pos, Err: err, Detail: detail}
}

func (r *reader) syntax(detail string) *DecodeError {
	if r.pos >= len(r.data) {
		return r.errAt(r.pos, ErrSyntax, "unexpected end of input, "+detail)
	}
	return r.errAt(r.pos, ErrSyntax, "unexpected "+strconv.QuoteRune(rune(r.data[r.pos]))+", "+detail)
}

func (r *reader) ws() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// skip validates the value at r.pos and returns its span. depth counts the
// containers already open around it.
func (r *reader) skip(depth int) (span, error) {
	r.ws()
	if r.pos >= len(r.data) {
		return span{}, r.syntax("expected a value")
	}
	start := r.pos
	switch c := r.data[r.pos]; {
	case c == '{':
		if depth+1 > r.lim.MaxDepth {
			return span{}, r.errAt(r.pos, ErrTooDeep, "more than "+strconv.Itoa(r.lim.MaxDepth)+" levels")
		}
		r.pos++
		r.ws()
		if r.pos < len(r.data) && r.data[r.pos] == '}' {
			r.pos++
			return span{start, r.pos, kindObject}, nil
		}
		for {
			r.ws()
			if r.pos >= len(r.data) || r.data[r.pos] != '"' {
				return span{}, r.syntax("expected a field name")
			}
			if _, err := r.str(); err != nil {
				return span{}, err
			}
			r.ws()
			if r.pos >= len(r.data) || r.data[r.pos] != ':' {
				return span{}, r.syntax("expected ':'")
			}
			r.pos++
			if _, err := r.skip(depth + 1); err != nil {
				return span{}, err
			}
			r.ws()
			if r.pos < len(r.data) && r.data[r.pos] == ',' {
				r.pos++
				continue
			}
			if r.pos < len(r.data) && r.data[r.pos] == '}' {
				r.pos++
				return span{start, r.pos, kindObject}, nil
			}
			return span{}, r.syntax("expected ',' or '}'")
		}
	case c == '[':
		if depth+1 > r.lim.MaxDepth {
			return span{}, r.errAt(r.pos, ErrTooDeep, "more than "+strconv.Itoa(r.lim.MaxDepth)+" levels")
		}
		r.pos++
		r.ws()
		if r.pos < len(r.data) && r.data[r.pos] == ']' {
			r.pos++
			return span{start, r.pos, kindArray}, nil
		}
		for {
			if _, err := r.skip(depth + 1); err != nil {
				return span{}, err
			}
			r.ws()
			if r.pos < len(r.data) && r.data[r.pos] == ',' {
				r.pos++
				continue
			}
			if r.pos < len(r.data) && r.data[r.pos] == ']' {
				r.pos++
				return span{start, r.pos, kindArray}, nil
			}
			return span{}, r.syntax("expected ',' or ']'")
		}
	case c == '"':
		if _, err := r.str(); err != nil {
			return span{}, err
		}
		return span{start, r.pos, kindString}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		if err := r.number(); err != nil {
			return span{}, err
		}
		return span{start, r.pos, kindNumber}, nil
	case c == 't':
		return r.literal("true", kindTrue)
	case c == 'f':
		return r.literal("false", kindFalse)
	case c == 'n':
		return r.literal("null", kindNull)
	}
	return span{}, r.syntax("expected a value")
}

func (r *reader) literal(word string, kind byte) (span, error) {
	start := r.pos
	if len(r.data)-r.pos < len(word) || string(r.data[r.pos:r.pos+len(word)]) != word {
		return span{}, r.syntax("expected " + word)
	}
	r.pos += len(word)
	return span{start, r.pos, kind}, nil
}

// number validates the JSON number grammar at r.pos.
func (r *reader) number() error {
	d := r.data
	if r.pos < len(d) && d[r.pos] == '-' {
		r.pos++
	}
	switch {
	case r.pos < len(d) && d[r.pos] == '0':
		r.pos++
	case r.pos < len(d) && d[r.pos] >= '1' && d[r.pos] <= '9':
		for r.pos < len(d) && d[r.pos] >= '0' && d[r.pos] <= '9' {
			r.pos++
		}
	default:
		return r.syntax("expected a digit")
	}
	if r.pos < len(d) && d[r.pos] == '.' {
		r.pos++
		if r.pos >= len(d) || d[r.pos] < '0' || d[r.pos] > '9' {
			return r.syntax("expected a digit after '.'")
		}
		for r.pos < len(d) && d[r.pos] >= '0' && d[r.pos] <= '9' {
			r.pos++
		}
	}
	if r.pos < len(d) && (d[r.pos] == 'e' || d[r.pos] == 'E') {
		r.pos++
		if r.pos < len(d) && (d[r.pos] == '+' || d[r.pos] == '-') {
			r.pos++
		}
		if r.pos >= len(d) || d[r.pos] < '0' || d[r.pos] > '9' {
			return r.syntax("expected a digit in the exponent")
		}
		for r.pos < len(d) && d[r.pos] >= '0' && d[r.pos] <= '9' {
			r.pos++
		}
	}
	return nil
}

// str validates the string starting at r.pos (which is '"') and reports
// whether it contains escapes.
func (r *reader) str() (escaped bool, err error) {
	r.pos++
	d := r.data
	for r.pos < len(d) {
		c := d[r.pos]
		switch {
		case c == '"':
			r.pos++
			return escaped, nil
		case c == '\\':
			escaped = true
			r.pos++
			if r.pos >= len(d) {
				return escaped, r.syntax("unterminated escape")
			}
			switch d[r.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.pos++
			case 'u':
				if len(d)-r.pos < 5 || !isHex4(d[r.pos+1:r.pos+5]) {
					return escaped, r.syntax("expected four hex digits after \\u")
				}
				// A surrogate must be a high one followed by a low one:
				// a lone surrogate is no character, and the canonical
				// writer could not give it back.
				if ru := hexVal(d[r.pos+1 : r.pos+5]); utf16.IsSurrogate(ru) {
					if ru >= 0xdc00 || len(d)-r.pos < 11 || d[r.pos+5] != '\\' || d[r.pos+6] != 'u' ||
						!isHex4(d[r.pos+7:r.pos+11]) || !isLowSurrogate(hexVal(d[r.pos+7:r.pos+11])) {
						return escaped, r.errAt(r.pos-1, ErrSyntax, "lone UTF-16 surrogate \\u"+string(d[r.pos+1:r.pos+5]))
					}
					r.pos += 6
				}
				r.pos += 5
			default:
				return escaped, r.syntax("invalid escape")
			}
		case c < 0x20:
			return escaped, r.errAt(r.pos, ErrSyntax, "control character in string")
		case c < utf8.RuneSelf:
			r.pos++
		default:
			ru, n := utf8.DecodeRune(d[r.pos:])
			if ru == utf8.RuneError && n <= 1 {
				return escaped, r.errAt(r.pos, ErrSyntax, "invalid UTF-8 in string")
			}
			r.pos += n
		}
	}
	return escaped, r.syntax("unterminated string")
}

func isLowSurrogate(ru rune) bool { return ru >= 0xdc00 && ru <= 0xdfff }

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hexVal(b []byte) rune {
	var v rune
	for _, c := range b {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			v |= rune(c - 'a' + 10)
		default:
			v |= rune(c - 'A' + 10)
		}
	}
	return v
}

// object reads the object at r.pos into fs. It refuses duplicate keys.
func (r *reader) object(fs *fields, depth int) error {
	r.ws()
	if r.pos >= len(r.data) || r.data[r.pos] != '{' {
		if r.pos < len(r.data) {
			start := r.pos
			if sp, err := r.skip(depth); err == nil {
				return r.errAt(sp.start, ErrFieldType, "expected an object, got "+kindName(sp.kind))
			}
			r.pos = start // report where the value starts, not where skip gave up
		}
		return r.syntax("expected an object")
	}
	if depth+1 > r.lim.MaxDepth {
		return r.errAt(r.pos, ErrTooDeep, "more than "+strconv.Itoa(r.lim.MaxDepth)+" levels")
	}
	r.pos++
	r.ws()
	if r.pos < len(r.data) && r.data[r.pos] == '}' {
		r.pos++
		return nil
	}
	var seen map[string]struct{} // the keys of a large object; see dupScanMax
	for {
		r.ws()
		if r.pos >= len(r.data) || r.data[r.pos] != '"' {
			return r.syntax("expected a field name")
		}
		ks := r.pos
		esc, err := r.str()
		if err != nil {
			return err
		}
		key := r.unquote(ks, r.pos, esc)
		dup := false
		if seen == nil && fs.len() < dupScanMax {
			for i := range fs.len() {
				if fs.get(i).key == key {
					dup = true
					break
				}
			}
		} else {
			dup = duplicate(fs, &seen, key)
		}
		if dup {
			return r.errAt(ks, ErrDuplicateField, strconv.Quote(key))
		}
		r.ws()
		if r.pos >= len(r.data) || r.data[r.pos] != ':' {
			return r.syntax("expected ':'")
		}
		r.pos++
		sp, err := r.skip(depth + 1)
		if err != nil {
			return err
		}
		fs.add(field{key: key, val: sp})
		r.ws()
		if r.pos < len(r.data) && r.data[r.pos] == ',' {
			r.pos++
			continue
		}
		if r.pos < len(r.data) && r.data[r.pos] == '}' {
			r.pos++
			return nil
		}
		return r.syntax("expected ',' or '}'")
	}
}

// dupScanMax is how many fields object compares a new key with one by one.
// Past it the keys go into a map (see duplicate), so that an object of n
// fields costs O(n), not O(n²): a 1 MiB object of short keys took 12 s.
const dupScanMax = 16

// duplicate reports whether fs, a large object, already has key, keeping
// the keys in *seen.
func duplicate(fs *fields, seen *map[string]struct{}, key string) bool {
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*fs.len())
		for i := range fs.len() {
			(*seen)[fs.get(i).key] = struct{}{}
		}
	}
	if _, ok := (*seen)[key]; ok {
		return true
	}
	(*seen)[key] = struct{}{}
	return false
}

// unquote returns the string value of the validated string span [s, e).
// Without escapes it aliases the input bytes: callers that keep the string
// beyond the decode must copy it (see Limits and decoder.keep).
func (r *reader) unquote(s, e int, escaped bool) string {
	raw := r.data[s+1 : e-1]
	if !escaped {
		return unsafe.String(unsafe.SliceData(raw), len(raw))
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			ru := hexVal(raw[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(ru) {
				ru2 := utf8.RuneError
				if i+6 < len(raw)+0 && raw[i+1] == '\\' && raw[i+2] == 'u' {
					ru2 = hexVal(raw[i+3 : i+7])
				}
				if dec := utf16.DecodeRune(ru, ru2); dec != utf8.RuneError {
					ru = dec
					i += 6
				} else {
					ru = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, ru)
		default: // '"', '\\', '/'
			out = append(out, raw[i])
		}
		i++
	}
	return string(out)
}

// spanString returns the string at sp, which must be a string span.
func (r *reader) spanString(sp span) string {
	esc := false
	for _, c := range r.data[sp.start+1 : sp.end-1] {
		if c == '\\' {
			esc = true
			break
		}
	}
	return r.unquote(sp.start, sp.end, esc)
}

// items returns the spans of the elements of the array at sp.
func (r *reader) items(sp span, out []span) []span {
	sub := reader{data: r.data[:sp.end], pos: sp.start + 1, lim: r.lim}
	sub.ws()
	if sub.data[sub.pos] == ']' {
		return out
	}
	for {
		// The array was validated by skip, so depth does not matter here.
		s, _ := sub.skip(-1 << 30)
		out = append(out, s)
		sub.ws()
		if sub.data[sub.pos] == ']' {
			return out
		}
		sub.pos++ // ','
	}
}

// members reads the fields of the object at sp.
func (r *reader) members(sp span, fs *fields) error {
	sub := reader{data: r.data[:sp.end], pos: sp.start, lim: Limits{MaxDepth: math.MaxInt32}}
	return sub.object(fs, 0)
}

// float parses the number at sp.
func (r *reader) float(sp span) (float64, error) {
	raw := r.data[sp.start:sp.end]
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, r.errAt(sp.start, ErrNotFinite, string(raw)+" does not fit a float64")
	}
	if f == 0 {
		f = 0 // fold -0 into 0
	}
	return f, nil
}

// int parses the number at sp as an integer.
func (r *reader) int(sp span) (int64, error) {
	raw := r.data[sp.start:sp.end]
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			return 0, r.errAt(sp.start, ErrFieldType, string(raw)+" is not an integer")
		}
	}
	n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(raw), len(raw)), 10, 64)
	if err != nil {
		return 0, r.errAt(sp.start, ErrOverflow, string(raw)+" does not fit a 64-bit integer")
	}
	return n, nil
}

// appendFloat writes f in the canonical form: the shortest representation
// that round-trips, in plain notation for 1e-6 <= |f| < 1e21 and exponent
// notation otherwise (the same rule as ECMAScript and RFC 8785).
func appendFloat(dst []byte, f float64) []byte {
	if f == 0 {
		f = 0 // -0 is 0, also in values built in Go rather than decoded
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string in the canonical form: only '"',
// '\\' and control characters are escaped, short escapes where JSON has
// them. s must be valid UTF-8 (the reader guarantees it for decoded input;
// invalid bytes from other sources are replaced by U+FFFD).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			ru, n := utf8.DecodeRuneInString(s[i:])
			if ru == utf8.RuneError && n == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += n
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
