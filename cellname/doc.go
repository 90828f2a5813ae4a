// Package cellname owns what every layer of dprop says about cells by name:
// the rule a cell name follows, patterns over names, and the NATS subjects
// names map to.
//
// A cell name is one or more dot-separated tokens of [A-Za-z0-9_-], at most
// MaxLen bytes: weather.boston.temp. A pattern may also use "*" for any one
// token and, as its last token, ">" for one or more: weather.>. Cell
// weather.boston.temp lives on subject dprop.cell.weather.boston.temp,
// where "dprop" is a configurable prefix; hierarchical names let users
// subscribe, replicate and grant permissions by subtree. An Index finds
// the patterns that match a cell without trying each (a replica's
// watchers).
//
// The package is a leaf: it imports only the standard library, so that
// broker (which provisions the stream over every cell subject),
// propagators (which name cells in networks) and replica (which folds
// messages by subject) share one definition.
package cellname
