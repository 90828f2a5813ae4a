package lattice

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Bounds of a supported value, checked by Decode and NewSupported. The join
// of two supported values may hold more claims than MaxClaims (the join of a
// lattice cannot refuse); a replica refuses an update whose merge would take
// a cell past MaxClaims, the way it refuses one that would outgrow the
// cell's size limit, so a stored cell never holds more.
const (
	// MaxClaims bounds the claims of one supported value.
	MaxClaims = 64
	// MaxPremises bounds the premises of one claim.
	MaxPremises = 32
	// MaxPremiseLen bounds a premise name in bytes.
	MaxPremiseLen = 128
)

// Claim is one supported value: Value holds if every premise holds.
type Claim struct {
	// Value is a value of the supported value's inner type: never Nothing,
	// a Contradiction or a Supported.
	Value Value
	// Premises are sorted and distinct; none means the value holds
	// unconditionally.
	Premises []string
}

// Supported is a set of claims, each a value of one inner type resting on a
// set of premises (Radul's supported values, with the premises of truth
// maintenance). Merging unites the claims and keeps only those no other
// subsumes: (v, S) is subsumed by (v′, S′) when v ⊑ v′ and S′ ⊆ S, that is,
// when v′ says at least as much on no more assumptions. A supported value
// never forgets a claim that still says something: withdrawing a premise
// changes what is believed (see Consequence), not what is stored.
//
// The claims of one supported value normally share an inner type (Of), but
// the lattice does not insist: claims of two types are kept side by side,
// and a worldview that believes both gets a type conflict as its
// consequence, whose support names the premises that disagree: a nogood,
// like any other contradiction.
//
// Wire form:
//
//	{"type":"supported","values":[
//	  {"premises":["fall-time"],"value":{"type":"interval","lo":2.9,"hi":3.1}}]}
//
// A premise name is 1 to MaxPremiseLen bytes of [A-Za-z0-9_.:-]; a claim has
// at most MaxPremises of them and a value at most MaxClaims claims. Claims
// of Nothing are dropped; claims of a Contradiction or a Supported are
// refused.
type Supported struct {
	claims []Claim // an antichain, in canonical order (see compareClaims)
}

// NewSupported returns the supported value of the given claims, keeping only
// those no other subsumes. It refuses what Decode refuses (an *ErrorList is
// not used: the error is a *DecodeError naming the claim).
func NewSupported(claims ...Claim) (*Supported, error) {
	s := &Supported{}
	for i, c := range claims {
		ps := sortedStrings(c.Premises)
		if err := checkClaim(c.Value, ps); err != nil {
			err.Path = "values[" + itoa(i) + "]"
			return nil, err
		}
		if IsNothing(c.Value) {
			continue
		}
		s.claims = append(s.claims, Claim{c.Value, ps})
	}
	if len(s.claims) > MaxClaims {
		return nil, &DecodeError{Path: "values", Err: ErrTooLarge, Detail: strconv.Itoa(len(s.claims)) + " claims, limit " + strconv.Itoa(MaxClaims)}
	}
	s.claims = antichain(s.claims)
	return s, nil
}

// checkClaim says what is wrong with a claim's value or premises (nil when
// nothing is).
func checkClaim(v Value, premises []string) *DecodeError {
	switch v.(type) {
	case nil:
		return &DecodeError{Err: ErrMissingField, Detail: `"value"`}
	case *Contradiction, *Supported:
		return &DecodeError{Err: ErrInvalid, Detail: "a claim's value cannot be a " + v.Type()}
	}
	if len(premises) > MaxPremises {
		return &DecodeError{Err: ErrTooLarge, Detail: strconv.Itoa(len(premises)) + " premises, limit " + strconv.Itoa(MaxPremises)}
	}
	for _, p := range premises {
		if err := validatePremise(p); err != nil {
			return err
		}
	}
	return nil
}

// ValidatePremise checks a premise name: 1 to MaxPremiseLen bytes of
// [A-Za-z0-9_.:-]. The error wraps ErrInvalid and quotes the name.
func ValidatePremise(p string) error {
	if err := validatePremise(p); err != nil {
		return err
	}
	return nil
}

func validatePremise(p string) *DecodeError {
	if p == "" || len(p) > MaxPremiseLen {
		return &DecodeError{Err: ErrInvalid, Detail: "premise name " + strconv.Quote(p) + " must be 1 to " + strconv.Itoa(MaxPremiseLen) + " bytes"}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':' {
			continue
		}
		return &DecodeError{Err: ErrInvalid, Detail: "premise name " + strconv.Quote(p) + " has " + strconv.QuoteRune(rune(c)) + " at byte " + itoa(i) + " (allowed: letters, digits, _ - . :)"}
	}
	return nil
}

// Claims returns the claims in canonical order (caller must not modify).
func (s *Supported) Claims() []Claim { return s.claims }

// Len returns the number of claims.
func (s *Supported) Len() int { return len(s.claims) }

// Of returns the inner type: the type of every claim's value ("" for the
// empty supported value, or when the claims have several types).
func (s *Supported) Of() string {
	typ := ""
	for i, c := range s.claims {
		if i == 0 {
			typ = c.Value.Type()
		} else if c.Value.Type() != typ {
			return ""
		}
	}
	return typ
}

// Premises returns every premise some claim rests on, sorted.
func (s *Supported) Premises() []string {
	var out []string
	for _, c := range s.claims {
		out = unionStrings(out, c.Premises)
	}
	return slices.Clone(out)
}

// Type implements Value.
func (*Supported) Type() string { return TypeSupported }

// AppendJSON implements Value.
func (s *Supported) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"supported","values":[`...)
	for i, c := range s.claims {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"premises":`...)
		dst = appendStrings(dst, c.Premises)
		dst = append(dst, `,"value":`...)
		dst = c.Value.AppendJSON(dst)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// MarshalJSON implements json.Marshaler with the canonical encoding.
func (s *Supported) MarshalJSON() ([]byte, error) { return s.AppendJSON(nil), nil }

func (s *Supported) join(o Value) (Value, bool) {
	n, ok := o.(*Supported)
	if !ok {
		return newTypeConflict(s, o), true
	}
	// Both sides are antichains: a claim can only be subsumed by one of
	// the other side (were x ⊑ y ⊑ x′ with x, x′ on one side, x = x′ = y).
	var added []Claim
	for _, y := range n.claims {
		if !slices.ContainsFunc(s.claims, func(x Claim) bool { return subsumes(x, y) }) {
			added = append(added, y)
		}
	}
	if len(added) == 0 {
		return s, false
	}
	out := make([]Claim, 0, len(s.claims)+len(added))
	for _, x := range s.claims {
		if !slices.ContainsFunc(added, func(y Claim) bool { return subsumes(y, x) }) {
			out = append(out, x)
		}
	}
	out = append(out, added...)
	slices.SortFunc(out, compareClaims)
	return &Supported{claims: out}, true
}

// subsumes reports whether claim a says at least what b says on no more
// premises: b.Value ⊑ a.Value and a.Premises ⊆ b.Premises.
func subsumes(a, b Claim) bool {
	return subset(a.Premises, b.Premises) && Leq(b.Value, a.Value)
}

// subset reports whether the sorted distinct a is a subset of the sorted
// distinct b.
func subset(a, b []string) bool {
	if len(a) > len(b) {
		return false
	}
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j == len(b) || b[j] != x {
			return false
		}
		j++
	}
	return true
}

// antichain sorts the claims and keeps those no other subsumes (one of
// equal claims). It may reuse cs's memory.
func antichain(cs []Claim) []Claim {
	slices.SortFunc(cs, compareClaims)
	cs = slices.CompactFunc(cs, func(a, b Claim) bool { return compareClaims(a, b) == 0 })
	out := cs[:0:0]
	for i, c := range cs {
		kept := true
		for j, d := range cs {
			if i != j && subsumes(d, c) {
				kept = false
				break
			}
		}
		if kept {
			out = append(out, c)
		}
	}
	return out
}

// compareClaims orders claims by their premises (fewer first, then by
// name), then by the canonical encoding of their values.
func compareClaims(a, b Claim) int {
	if c := cmp.Compare(len(a.Premises), len(b.Premises)); c != 0 {
		return c
	}
	if c := slices.Compare(a.Premises, b.Premises); c != 0 {
		return c
	}
	var ab, bb [64]byte
	return bytes.Compare(a.Value.AppendJSON(ab[:0]), b.Value.AppendJSON(bb[:0]))
}

// Consequence is what a supported value says under a worldview: Value is
// the join of the values of every claim whose premises are all believed
// (Nothing when there is none; a Contradiction when they disagree), and
// Support the premises it rests on: the union of the premises of an
// irredundant set of those claims whose join is still Value (for a
// contradiction, whose join still contradicts: the premises that cannot
// all hold, a nogood).
type Consequence struct {
	Value   Value
	Support []string
}

// Contradicts reports whether the consequence is a contradiction.
func (c Consequence) Contradicts() bool { return IsContradiction(c.Value) }

// Consequence returns the strongest consequence of s under the worldview
// believed (which says whether a premise is believed; nil believes all).
//
// The support is made irredundant greedily: claims are tried for removal
// from those with the most premises to those with the fewest (the reverse
// of the canonical order), and one is dropped when the join of the rest is
// the same value, or, for a contradiction, still a contradiction. Every
// replica computes the same support from the same value.
func (s *Supported) Consequence(believed func(premise string) bool) Consequence {
	var in []Claim
	for _, c := range s.claims {
		if believed == nil || allBelieved(c.Premises, believed) {
			in = append(in, c)
		}
	}
	if len(in) == 0 {
		return Consequence{Value: Nothing{}}
	}
	keep := slices.Repeat([]bool{true}, len(in))
	full := joinKept(in, keep)
	contradicts := IsContradiction(full)
	for i := len(in) - 1; i >= 0; i-- {
		keep[i] = false
		rest := joinKept(in, keep)
		if contradicts && !IsContradiction(rest) || !contradicts && !Equal(rest, full) {
			keep[i] = true
		}
	}
	var support []string
	for i, c := range in {
		if keep[i] {
			support = unionStrings(support, c.Premises)
		}
	}
	return Consequence{Value: full, Support: slices.Clone(support)}
}

func allBelieved(ps []string, believed func(string) bool) bool {
	for _, p := range ps {
		if !believed(p) {
			return false
		}
	}
	return true
}

// joinKept joins the values of the claims of cs that keep marks.
func joinKept(cs []Claim, keep []bool) Value {
	var v Value = Nothing{}
	for i, c := range cs {
		if keep[i] {
			v, _ = merge(v, c.Value)
		}
	}
	return v
}

// Support returns the supported value of one claim: v on the premises
// (Nothing when v is). It is how a propagator or a writer states a value
// with its support. The error is NewSupported's.
func Support(v Value, premises ...string) (Value, error) {
	if IsNothing(v) {
		return Nothing{}, nil
	}
	return NewSupported(Claim{Value: v, Premises: premises})
}

func decodeSupported(o *object) (Value, error) {
	if err := o.only("values"); err != nil {
		return nil, err
	}
	sp, _, err := o.kind("values", kindArray, "an array of claims", true)
	if err != nil {
		return nil, err
	}
	items := o.d.r.items(sp, nil)
	if len(items) > MaxClaims {
		return nil, o.d.r.errAt(sp.start, ErrTooLarge, `"values" has `+itoa(len(items))+" claims, limit "+itoa(MaxClaims))
	}
	claims := make([]Claim, 0, len(items))
	for i, it := range items {
		path := "values[" + itoa(i) + "]"
		c, err := o.d.claimAt(it, o.depth+2)
		if err != nil {
			return nil, prefixPath(err, path)
		}
		if !IsNothing(c.Value) {
			claims = append(claims, c)
		}
	}
	return &Supported{claims: antichain(claims)}, nil
}

// claimAt decodes one claim {"premises":[...],"value":{...}}.
func (d *decoder) claimAt(sp span, depth int) (Claim, error) {
	if sp.kind != kindObject {
		return Claim{}, d.r.errAt(sp.start, ErrFieldType, "a claim must be an object, got "+kindName(sp.kind))
	}
	o := object{d: d, depth: depth, at: sp.start}
	saved := d.r.pos
	defer func() { d.r.pos = saved }()
	d.r.pos = sp.start
	if err := d.r.object(&o.fs, depth); err != nil {
		return Claim{}, err
	}
	for i := range o.fs.len() {
		if f := o.fs.get(i); f.key != "premises" && f.key != "value" {
			return Claim{}, d.r.errAt(f.val.start, ErrUnknownField, strconv.Quote(f.key)+` (a claim has "premises", "value")`)
		}
	}
	ps, _, err := o.strings("premises", true)
	if err != nil {
		return Claim{}, err
	}
	vsp, _, err := o.kind("value", kindObject, "a lattice value", true)
	if err != nil {
		return Claim{}, err
	}
	v, err := d.valueAt(vsp, depth+1)
	if err != nil {
		return Claim{}, prefixPath(err, "value")
	}
	ps = sortedStrings(ps)
	if err := checkClaim(v, ps); err != nil {
		return Claim{}, d.r.errAt(sp.start, err.Err, err.Detail)
	}
	return Claim{Value: v, Premises: ps}, nil
}

// PremiseSetKey is the string a set of premises is known by in a set of
// premise sets (a nogood in the nogoods cell): the sorted names joined by
// ",". Names cannot contain a comma, so the key is unambiguous.
func PremiseSetKey(premises []string) string {
	return strings.Join(sortedStrings(premises), ",")
}

// ParsePremiseSetKey is the inverse of PremiseSetKey.
func ParsePremiseSetKey(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ",")
}
