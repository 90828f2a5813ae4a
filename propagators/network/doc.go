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
// A cell name may use captures (<city>: any one token) and, in an
// aggregate's inputs, the wildcard *: a propagator over such names is a
// Template, which a replica instantiates for every cell that matches it
// (weather.<city>.temp_f → weather.<city>.temp_c), and an aggregate over
// weather.*.temp_c gains an input with each matching cell. Check also
// reports what templates get wrong: outputs that use captures no input
// binds or that instances would collide on, wildcards outside aggregates,
// and declarations that give a cell two types. Build returns them as
// Built.Templates, with Built.Fingerprints to tell a changed definition
// from an unchanged one when a network in the log is applied again.
//
// The kinds are the built-ins of package propagators; Kinds describes them.
// A kind's type rules live in the propagators' constructors, which return a
// *propagators.TypeError per unsuitable cell; Check places each at the
// position where the file names that cell.
package network
