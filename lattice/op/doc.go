// Package op turns operations on a cell — increment a counter, add to or
// remove from a set, assign a register — into the smallest lattice update
// that has their effect (a delta), which a replica publishes like any
// refine.
//
// An operation is a JSON object naming the operation and its argument:
//
//	{"op":"inc","by":2}
//	{"op":"dec"}
//	{"op":"add","elems":["a","b"]}
//	{"op":"remove","elems":["a"]}
//	{"op":"clear"}
//	{"op":"set","value":42}
//	{"op":"enable"}
//	{"op":"update","key":"k","with":{"op":"inc"}}
//	{"op":"remove","key":"k"}
//	{"op":"refine","value":{"type":"interval","lo":1,"hi":3}}
//
// Each delta belongs to a writer: a counter's count, an orset's dots and
// an lww register's writer are the writer's, so that deltas of different
// writers never collide and a delta merged twice counts once. The writer
// must see its own earlier updates in cur (a replica's view, pending
// updates included) before it computes the next: a count is the writer's
// new total, not an increment.
//
// Like package lattice, this package is pure: no I/O, no clock (the time
// of an lww assignment comes in as an argument), no goroutines.
package op
