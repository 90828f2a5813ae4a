// Package network reads network files: YAML documents that declare cells
// (name, type, optional initial value, description) and the propagators
// between them (kind, inputs, outputs, parameters, optional name and group).
// docs/networks.md teaches the format; testdata/networks has examples.
//
//	cells:
//	  - name: weather.boston.temp_f
//	    type: range
//	  - name: weather.boston.temp_c
//	    type: range
//	propagators:
//	  - kind: linear
//	    inputs: [weather.boston.temp_f]
//	    outputs: [weather.boston.temp_c]
//	    params: {k: 5/9, m: -160/9}
//
// Use it in three steps. Parse (or Load) reads the YAML, keeping every
// node's line and column; it fails only when the file is not a YAML mapping.
// Check validates everything and reports every problem at once, each as
// "file:line:col: message" (a Problems error). Build returns the propagators
// — all of them, or those of selected groups or names, so that two hosts can
// split one network — with the declared cell types and initial values, for a
// replica to enforce and seed.
//
// The kinds are the built-ins of package propagators; Kinds describes them.
// A kind's type rules live in the propagators' constructors, which return a
// *propagators.TypeError per unsuitable cell; Check places each at the
// position where the file names that cell.
package network
