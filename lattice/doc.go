// Package lattice holds the values that dprop's cells hold: join-semilattice
// values, also known as state-based CRDTs, each with a canonical JSON wire
// form.
//
// # Partial information
//
// A cell does not hold "the" value of something; it holds what is known of
// it so far. A max holds the largest reading seen, an interval the bounds
// some sources put on an unknown number, a set the elements anyone added.
// New information is merged in, never written over: Merge(a, b) is the join
// a ⊔ b, the least value that holds everything a and b hold. Because the join
// is idempotent (a ⊔ a = a), commutative and associative, updates can travel
// over an unreliable network in any order, any number of times, and every
// replica that has seen the same updates holds the same value. The tests of
// this package check those laws for every type with property-based tests.
//
// Merge also reports whether the result differs from its first operand, that
// is, whether b added anything. A replica tells watchers and propagators only
// of real changes, so an update that adds nothing is silent; that is also
// what stops a network of propagators from looping forever. Leq(a, b) is the
// order the join defines: a ⊑ b when b already holds everything a holds
// (a ⊔ b = b). A threshold read waits for a cell to be at least some value.
//
// # Values
//
// Value is the interface every type implements: Type gives the name used in
// the wire form's "type" field, AppendJSON the canonical encoding. The set of
// types is closed (the join is unexported): they are listed by Types, with a
// one-line summary each from Doc, and documented with their wire forms,
// merge rules and examples in docs/lattices.md.
//
// Values are immutable. No method changes its receiver; Merge returns a new
// value or one of its operands, and a result may share memory with them.
// Values can therefore be kept, shared between goroutines and merged
// concurrently without locks. Slices returned by accessors (Elems, Counts,
// Entries, Raw) belong to the value and must not be modified.
//
// # Bottom and top
//
// Nothing is the bottom of every type: no information yet. Every cell starts
// there, merging it changes nothing, and a nil Value means Nothing.
//
// A Contradiction is information that cannot all be true: two different
// exact numbers, intervals that do not overlap, values of two types at one
// map key. It absorbs whatever is merged into it, but keeps the evidence:
// what disagreed, and the cells a propagator derived it from. Merging into a
// contradiction only adds evidence, so contradictions obey the same laws as
// every other value and replicas agree on them byte for byte. A contradiction
// is above the values whose evidence it holds, not above every value: Leq of
// an unrelated value and a contradiction is false.
//
// Merge refuses two values of different types (a *MergeError wrapping
// ErrTypeMismatch): a cell has one type. Inside a Map, where each key is its
// own little cell, such a conflict becomes a Contradiction at that key only.
//
// # Premises
//
// A Supported value holds claims: values of an inner type, each resting on a
// set of premises (Radul and Sussman's supported values). Merging keeps the
// claims no other subsumes, so nothing still informative is ever lost;
// Consequence gives what the claims say under a worldview (the premises
// believed), with the premises that result rests on, or, when it is a
// contradiction, those that cannot all hold (a nogood). The worldview itself
// is a cell the propagators package reads; this package knows only a
// function that says whether a premise is believed.
//
// # Canonical encoding
//
// Equal values encode to identical bytes: fields in a fixed order, numbers in
// the shortest form that reads back the same (as in ECMAScript and RFC 8785),
// strings with minimal escapes, set elements and map keys sorted. A hash of
// the encoding is therefore an ETag, two replicas can compare values by
// comparing bytes, and Equal is defined as equality of encodings. Decode
// accepts other spellings (whitespace, any field order, duplicate set
// elements) and Encode always gives the canonical one.
//
// # Decoding
//
// Decode reads a wire form: a JSON object whose "type" field selects the
// type. Its reader is strict (RFC 8259, UTF-8 only, no duplicate fields, no
// unknown fields, no lone surrogates) and does not build a generic tree, so
// decoding and merging a small value costs a few hundred nanoseconds and at
// most three allocations (docs/performance.md). The decoded value does not
// alias the input.
//
// Limits bound what Decode accepts — the payload size, the nesting depth and
// the elements of one container — so that a hostile or mistaken update
// cannot exhaust a replica's memory or stack. DefaultLimits apply unless a
// Limits value is used to decode.
//
// Every refusal is a *DecodeError that says where (Path inside the value,
// byte Offset) and what, and wraps one sentinel error (ErrSyntax,
// ErrUnknownType, ErrMissingField, ...), so callers test with errors.Is and
// count refusals by kind. Nothing in this package panics on input.
//
// # Adding a type
//
// A type is its own file: the struct, Type, AppendJSON, MarshalJSON, join
// and a decode function. It is registered by a line in the registry and a
// case in decodeType (decode.go); a test checks that the two agree. Its
// reference belongs in docs/lattices.md and its generator in the property
// tests (gen_test.go), which then check the laws for it.
//
// # Purity
//
// The package uses only the standard library and does no I/O: no clock, no
// goroutines, no network. Time and identities (an lww timestamp, an orset
// writer) come in as arguments. A test enforces this.
package lattice
