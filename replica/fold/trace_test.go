package fold

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dprop/dprop/lattice"
)

var update = flag.Bool("update", false, "rewrite the expected outputs of testdata/*.txt")

// TestTraces runs the fold traces in testdata/. A trace is a list of
// blocks, each a command, a line "----", the output it must give and a
// blank line; lines starting with # are comments. Commands:
//
//	core [prefix=P] [declare=CELL:TYPE,...] [max-bytes=N] [max-cell-bytes=N]
//	     [trust=PATTERN=SIGNER,...]...                      start afresh
//	apply SEQ SUBJECT PAYLOAD                               fold a message
//	rollup SEQ SUBJECT PAYLOAD                              fold a compaction's message
//	join SEQ MARK SUBJECT PAYLOAD                           fold a compaction's join of the cell as of MARK
//	derive SEQ SUBJECT PROPAGATOR PAYLOAD                   fold a propagator's message
//	signed SEQ SUBJECT SIGNER [subject=S] [payload=P] [sig=X] PAYLOAD
//	                                                        fold a signed message
//	check CELL PAYLOAD                                      Check, as before publishing
//	check-signer CELL SIGNER|-                              CheckSigner, as before publishing
//	policy                                                  the trust policy's canonical form and hash
//	get CELL                                                the cell's state
//	refused                                                 refusal counts
//
// Each trust= argument is a rule of the trust policy, in order: the cells'
// pattern, then the names of the keys it trusts, and "unsigned" if it
// takes unsigned updates. Keys are named (alice, bob, ...): each name
// stands for a key pair made from its SHA-256, the same in every run, and
// SIGNER names the one that signs. A signed message is signed over its
// own subject and payload unless subject= or payload= say what was signed
// instead (a signature moved, a payload tampered with); sig= sets the
// Dprop-Signature header as it is, and a SIGNER of - leaves out
// Dprop-Signer.
//
// With -update the outputs are rewritten from what the fold does.
func TestTraces(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no traces in testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runTrace(t, file) })
	}
}

type traceBlock struct {
	line     int
	comments []string
	cmd      string
	want     string
}

func parseTrace(t *testing.T, file string) []traceBlock {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []traceBlock
	lines := strings.Split(string(data), "\n")
	var comments []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "#"):
			comments = append(comments, l)
			continue
		case strings.TrimSpace(l) == "":
			continue
		}
		b := traceBlock{line: i + 1, comments: comments, cmd: l}
		comments = nil
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: want ---- after the command", file, i+1)
		}
		i += 2
		var out []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			out = append(out, lines[i])
		}
		b.want = strings.Join(out, "\n")
		blocks = append(blocks, b)
	}
	return blocks
}

func runTrace(t *testing.T, file string) {
	blocks := parseTrace(t, file)
	var core *Core
	var b strings.Builder
	for i := range blocks {
		blk := &blocks[i]
		got, err := runCommand(&core, blk.cmd)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", file, blk.line, blk.cmd, err)
		}
		if *update {
			blk.want = got
		} else if got != blk.want {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", file, blk.line, blk.cmd, got, blk.want)
		}
		for _, c := range blk.comments {
			b.WriteString(c + "\n")
		}
		b.WriteString(blk.cmd + "\n----\n")
		if blk.want != "" {
			b.WriteString(blk.want + "\n")
		}
		b.WriteString("\n")
	}
	if *update {
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runCommand(core **Core, line string) (string, error) {
	name, rest, _ := strings.Cut(line, " ")
	if name != "core" && *core == nil {
		*core = NewCore("", nil, Limits{})
	}
	switch name {
	case "core":
		prefix, declared, limits := "", map[string]string{}, Limits{}
		var rules []TrustRule
		for _, arg := range strings.Fields(rest) {
			k, v, _ := strings.Cut(arg, "=")
			switch k {
			case "prefix":
				prefix = v
			case "declare":
				for d := range strings.SplitSeq(v, ",") {
					cell, typ, _ := strings.Cut(d, ":")
					declared[cell] = typ
				}
			case "trust":
				rule, err := traceRule(v)
				if err != nil {
					return "", err
				}
				rules = append(rules, rule)
			case "max-bytes", "max-cell-bytes":
				n, err := strconv.Atoi(v)
				if err != nil {
					return "", err
				}
				if k == "max-bytes" {
					limits.Update.MaxBytes = n
				} else {
					limits.MaxCellBytes = n
				}
			default:
				return "", fmt.Errorf("unknown argument %q", arg)
			}
		}
		if rules != nil {
			t, err := NewTrust(rules)
			if err != nil {
				return "", err
			}
			limits.Trust = t
		}
		*core = NewCore(prefix, declared, limits)
		return "", nil
	case "apply", "rollup":
		f := strings.SplitN(rest, " ", 3)
		if len(f) != 3 {
			return "", fmt.Errorf("want %s SEQ SUBJECT PAYLOAD", name)
		}
		seq, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return "", err
		}
		res := (*core).ApplyMessage(Message{Subject: f[1], Seq: seq, Data: []byte(f[2]), Rollup: name == "rollup"})
		return describe(res), nil
	case "join":
		f := strings.SplitN(rest, " ", 4)
		if len(f) != 4 {
			return "", fmt.Errorf("want join SEQ MARK SUBJECT PAYLOAD")
		}
		seq, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return "", err
		}
		mark, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return "", err
		}
		return describe((*core).ApplyMessage(Message{Subject: f[2], Seq: seq, Data: []byte(f[3]), Rollup: true, Mark: mark})), nil
	case "derive":
		f := strings.SplitN(rest, " ", 4)
		if len(f) != 4 {
			return "", fmt.Errorf("want derive SEQ SUBJECT PROPAGATOR PAYLOAD")
		}
		seq, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return "", err
		}
		return describe((*core).ApplyMessage(Message{Subject: f[1], Seq: seq, Propagator: f[2], Data: []byte(f[3])})), nil
	case "signed":
		m, err := traceSigned(rest)
		if err != nil {
			return "", err
		}
		return describe((*core).ApplyMessage(m)), nil
	case "check-signer":
		cell, signer, _ := strings.Cut(rest, " ")
		if signer == "-" {
			signer = ""
		} else {
			signer = traceKey(signer).pub
		}
		if err := (*core).CheckSigner(cell, signer); err != nil {
			re := err.(*RefusedError)
			return fmt.Sprintf("refused %s reason=%s: %v", re.Cell, re.Reason, re.Err), nil
		}
		return "ok", nil
	case "policy":
		t := (*core).Trust()
		if t == nil {
			return "no policy", nil
		}
		return fmt.Sprintf("%s\nsha256 %s", t.Canonical(), t.Hash()), nil
	case "check":
		cell, payload, _ := strings.Cut(rest, " ")
		v, err := lattice.Decode([]byte(payload))
		if err != nil {
			return "", err
		}
		if err := (*core).Check(cell, v); err != nil {
			re := err.(*RefusedError)
			return fmt.Sprintf("refused %s reason=%s: %v", re.Cell, re.Reason, re.Err), nil
		}
		return "ok", nil
	case "get":
		c, ok := (*core).Get(rest)
		if !ok {
			return "no cell " + rest, nil
		}
		s := fmt.Sprintf("%s type=%s value=%s seq=%d updates=%d last=%d log=%d etag=%s",
			c.Name, c.Type, lattice.Encode(c.Value), c.Seq, c.Updates, c.Last, c.LogLen(), c.ETag)
		if c.Propagator != "" {
			s += " propagator=" + c.Propagator
		}
		return s, nil
	case "refused":
		var out []string
		for cell, reasons := range (*core).Refused() {
			for reason, n := range reasons {
				out = append(out, fmt.Sprintf("%s %s %d", cell, reason, n))
			}
		}
		slices.Sort(out)
		return strings.Join(out, "\n"), nil
	}
	return "", fmt.Errorf("unknown command %q", name)
}

func describe(r Result) string {
	switch {
	case r.Forgotten:
		return fmt.Sprintf("forgotten %s seq=%d existed=%v", r.Cell, r.Seq, r.Existed)
	case r.Stale:
		return fmt.Sprintf("stale seq=%d", r.Seq)
	case r.Err != nil:
		re := r.Err.(*RefusedError)
		return fmt.Sprintf("refused %s seq=%d reason=%s: %v", re.Cell, re.Seq, re.Reason, re.Err)
	case r.Changed:
		return fmt.Sprintf("changed %s seq=%d type=%s value=%s", r.Cell, r.Seq, r.Type, lattice.Encode(r.Value))
	}
	return fmt.Sprintf("unchanged %s seq=%d type=%s value=%s", r.Cell, r.Seq, r.Type, lattice.Encode(r.Value))
}
