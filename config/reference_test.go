package config

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// -update (config_test.go) also rewrites the generated table in docs/operations.md.

// refKey is one row of the configuration reference.
type refKey struct {
	Key, Env, Default, Doc string
}

// reference lists every configuration key from the Config type itself:
// names from the yaml tags, defaults from Defaults(), environment
// variables and meanings from the field comments in config.go. So the docs
// cannot drift from the code: a new key shows up here, and the test below
// fails until docs/operations.md is regenerated.
//
// A field's comments read as follows. The trailing comment starts with the
// variable's name when there is one ("PORTCHECK_X: meaning" or
// "PORTCHECK_X; note"); a doc comment above the field, when present, is the
// meaning and the trailing remainder a short note after it. Go field names
// in the text ("DrainGrace is ...", "every CheckpointEvery") are written as
// the YAML keys people type, and "(default ...)" notes are dropped: the
// default column says it, from Defaults().
func reference(t *testing.T) []refKey {
	t.Helper()
	// config.go, and the sections it embeds from their packages (keyed
	// "policy.Config", as config.go names them).
	fset := token.NewFileSet()
	structs := map[string]*ast.StructType{}
	for _, src := range []struct{ path, pkg string }{{"config.go", ""}, {"../admission/policy/policy.go", "policy."}, {"../admission/authz/authz.go", "authz."}} {
		f, err := parser.ParseFile(fset, src.path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					structs[src.pkg+ts.Name.Name] = st
				}
			}
			return true
		})
	}
	envRE := regexp.MustCompile(`^((?:PORTCHECK|REDIS)_[A-Z0-9_]+)(?:\s*\((comma-separated)\))?[:;]?\s*`)
	defaultRE := regexp.MustCompile(`\s*\(default [^)]*\)`)
	var out []refKey
	var walk func(prefix, typeName string, v reflect.Value)
	walk = func(prefix, typeName string, v reflect.Value) {
		st := structs[typeName]
		if st == nil {
			t.Fatalf("no struct %s in config.go", typeName)
		}
		// Go names of this struct's fields -> their YAML keys.
		keys := map[string]string{}
		for _, field := range st.Fields.List {
			name, _, _ := strings.Cut(reflect.StructTag(strings.Trim(field.Tag.Value, "`")).Get("yaml"), ",")
			for _, id := range field.Names {
				keys[id.Name] = name
			}
		}
		goNames := regexp.MustCompile(`\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b`)
		translate := func(s string) string {
			return goNames.ReplaceAllStringFunc(s, func(w string) string {
				if k, ok := keys[w]; ok {
					return "`" + k + "`"
				}
				return w
			})
		}
		for i, field := range st.Fields.List {
			name, _, _ := strings.Cut(reflect.StructTag(strings.Trim(field.Tag.Value, "`")).Get("yaml"), ",")
			key := prefix + name
			fv := v.Field(i)
			if id, ok := field.Type.(*ast.Ident); ok && structs[id.Name] != nil {
				walk(key+".", id.Name, fv)
				continue
			}
			if se, ok := field.Type.(*ast.SelectorExpr); ok {
				if x, ok := se.X.(*ast.Ident); ok && structs[x.Name+"."+se.Sel.Name] != nil {
					walk(key+".", x.Name+"."+se.Sel.Name, fv)
					continue
				}
			}
			trail, above := "", ""
			if field.Comment != nil {
				trail = strings.Join(strings.Fields(field.Comment.Text()), " ")
			}
			if field.Doc != nil {
				above = strings.Join(strings.Fields(field.Doc.Text()), " ")
			}
			k := refKey{Key: key, Default: showDefault(t, fv)}
			note := trail
			if trail == "" {
				note = above // a doc comment alone may name the variable too
				above = ""
			}
			if m := envRE.FindStringSubmatch(note); m != nil {
				k.Env = m[1]
				if m[2] != "" {
					k.Env += " (" + m[2] + ")"
				}
				note = note[len(m[0]):]
			}
			note = strings.TrimSpace(defaultRE.ReplaceAllString(note, ""))
			above = strings.TrimSpace(defaultRE.ReplaceAllString(above, ""))
			switch {
			case above == "":
				k.Doc = note
			case note == "":
				k.Doc = above
			default:
				k.Doc = above + " " + sentence(note)
			}
			k.Doc = translate(k.Doc)
			out = append(out, k)
		}
	}
	walk("", "Config", reflect.ValueOf(Defaults()))
	return out
}

// sentence capitalizes a comment fragment and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func showDefault(t *testing.T, v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "—"
		}
		v = v.Elem()
	}
	if d, ok := v.Interface().(Duration); ok {
		return shortDuration(d.Std())
	}
	if v.Kind() == reflect.Slice {
		// Flow style on one line: a block list would break the table row.
		items := make([]string, v.Len())
		for i := range items {
			b, err := yaml.Marshal(v.Index(i).Interface())
			if err != nil {
				t.Fatal(err)
			}
			items[i] = strings.TrimSpace(string(b))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	if v.Kind() == reflect.String && v.String() == "" {
		return `""`
	}
	b, err := yaml.Marshal(v.Interface())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// shortDuration writes 1h for 1h0m0s and 24h for 24h0m0s, as people type
// them in the file (both parse the same).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

const (
	refStart = "<!-- config-reference:start (generated by go test ./config -run TestOperationsDocListsEveryKey -update) -->"
	refEnd   = "<!-- config-reference:end -->"
)

// referenceTable renders the keys as a GitHub-flavoured Markdown table.
// The blank lines around it keep it a block of its own between the HTML
// comment markers; every cell goes through codeCell or textCell, so a pipe,
// a backtick, a newline or an angle bracket in a comment or a default can
// never split or swallow a row.
func referenceTable(keys []refKey) string {
	var b strings.Builder
	b.WriteString("\n| key | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, k := range keys {
		env := ""
		if k.Env != "" {
			name, note, _ := strings.Cut(k.Env, " ")
			env = codeCell(name)
			if note != "" {
				env += " " + textCell(note)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", codeCell(k.Key), env, codeCell(k.Default), textCell(k.Doc))
	}
	b.WriteString("\n")
	return b.String()
}

// codeCell writes s as one code span inside a table cell: fenced with more
// backticks than any run in s, pipes escaped (GFM splits cells on a bare
// pipe even inside a code span, and removes the backslash there), on one
// line. Entities are not decoded in code spans, so < and > stay as they are.
func codeCell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	longest, run := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if longest > 0 || strings.HasPrefix(s, " ") {
		s = " " + s + " "
	}
	return fence + strings.ReplaceAll(s, "|", `\|`) + fence
}

// textCell writes prose into a table cell: one line, pipes escaped, and
// outside its code spans < > & as entities, so "<channel id>" is text and
// not an HTML tag. Code spans (`...`) in the prose are kept as written,
// with only their pipes escaped.
func textCell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	var b strings.Builder
	html := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "|", `\|`)
	for len(s) > 0 {
		i := strings.Index(s, "`")
		if i < 0 {
			b.WriteString(html.Replace(s))
			break
		}
		j := strings.Index(s[i+1:], "`")
		if j < 0 { // an unpaired backtick is literal text
			b.WriteString(html.Replace(s[:i]) + "\\`")
			s = s[i+1:]
			continue
		}
		b.WriteString(html.Replace(s[:i]))
		b.WriteString(strings.ReplaceAll(s[i:i+j+2], "|", `\|`))
		s = s[i+j+2:]
	}
	return b.String()
}

// docs/operations.md lists every key with its variable and default, as
// generated from the Config type; -update rewrites the table.
func TestOperationsDocListsEveryKey(t *testing.T) {
	const path = "../docs/operations.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, refStart), strings.Index(s, refEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q ... %q markers", path, refStart, refEnd)
	}
	want := refStart + "\n" + referenceTable(reference(t)) + refEnd
	got := s[i : j+len(refEnd)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(s[:i]+want+s[j+len(refEnd):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the configuration reference in %s is stale: run go test ./config -run TestOperationsDocListsEveryKey -update", path)
}

// Every variable env.go reads is named in a field comment (so in the
// reference), and every one named there is read.
func TestReferenceEnvMatchesEnvGo(t *testing.T) {
	src, err := os.ReadFile("env.go")
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	for _, m := range regexp.MustCompile(`"((?:PORTCHECK|REDIS)_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		read[m[1]] = true
	}
	documented := map[string]bool{}
	for _, k := range reference(t) {
		if k.Env != "" {
			name, _, _ := strings.Cut(k.Env, " ")
			documented[name] = true
		}
	}
	var missing, unread []string
	for e := range read {
		if !documented[e] {
			missing = append(missing, e)
		}
	}
	for e := range documented {
		if !read[e] {
			unread = append(unread, e)
		}
	}
	sort.Strings(missing)
	sort.Strings(unread)
	if len(missing) > 0 {
		t.Errorf("env.go reads %v but no field comment in config.go names them", missing)
	}
	if len(unread) > 0 {
		t.Errorf("config.go comments name %v but env.go never reads them", unread)
	}
}

// checkTableRows reports every way table (the generated Markdown) could
// render wrongly in GitHub-flavoured Markdown: a row whose unescaped pipes
// do not make exactly four cells, an unpaired code-span fence, a raw < or >
// outside a code span (an HTML tag would swallow the text).
func checkTableRows(table string) []string {
	var bad []string
	lines := strings.Split(strings.Trim(table, "\n"), "\n")
	for n, line := range lines {
		if !strings.HasPrefix(line, "| ") || !strings.HasSuffix(line, " |") {
			bad = append(bad, fmt.Sprintf("line %d is not a table row: %q", n+1, line))
			continue
		}
		var cells []string
		cur := strings.Builder{}
		for i := 1; i < len(line)-1; i++ {
			switch {
			case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
				cur.WriteString(`\|`)
				i++
			case line[i] == '|':
				cells = append(cells, cur.String())
				cur.Reset()
			default:
				cur.WriteByte(line[i])
			}
		}
		cells = append(cells, cur.String())
		if len(cells) != 4 {
			bad = append(bad, fmt.Sprintf("line %d has %d cells, want 4: %q", n+1, len(cells), line))
			continue
		}
		if n == 1 {
			continue // the delimiter row
		}
		for _, c := range cells {
			rest := c
			for {
				i := strings.Index(rest, "`")
				if i < 0 {
					break
				}
				if i > 0 && rest[i-1] == '\\' { // an escaped, literal backtick
					rest = rest[i+1:]
					continue
				}
				outside := rest[:i]
				if strings.ContainsAny(outside, "<>") {
					bad = append(bad, fmt.Sprintf("line %d: raw angle bracket outside code: %q", n+1, c))
				}
				fence := rest[i : i+len(rest[i:])-len(strings.TrimLeft(rest[i:], "`"))]
				end := strings.Index(rest[i+len(fence):], fence)
				if end < 0 {
					bad = append(bad, fmt.Sprintf("line %d: unclosed code span %q in %q", n+1, fence, c))
					rest = ""
					break
				}
				rest = rest[i+len(fence)+end+len(fence):]
			}
			if strings.ContainsAny(rest, "<>") {
				bad = append(bad, fmt.Sprintf("line %d: raw angle bracket outside code: %q", n+1, c))
			}
		}
	}
	return bad
}

// The generated table is valid Markdown for the real keys and for comments
// and defaults written to break it.
func TestReferenceTableIsValidMarkdown(t *testing.T) {
	if bad := checkTableRows(referenceTable(reference(t))); len(bad) > 0 {
		t.Errorf("generated reference table:\n%s", strings.Join(bad, "\n"))
	}
	hostile := []refKey{
		{Key: "a.b", Env: "PORTCHECK_A (comma-separated)", Default: "[x|y, `z`]", Doc: "text | json, `a|b`, <channel id> & more\nsecond line"},
		{Key: "c", Default: "``", Doc: "`code <x>` and an unpaired ` backtick"},
		{Key: "d", Default: `""`, Doc: ""},
	}
	table := referenceTable(hostile)
	if bad := checkTableRows(table); len(bad) > 0 {
		t.Errorf("hostile rows:\n%s\n%s", table, strings.Join(bad, "\n"))
	}
	for _, want := range []string{"`` [x\\|y, `z`] ``", `text \| json`, "`a\\|b`", "&lt;channel id&gt; &amp; more second line", "`code <x>` and an unpaired \\` backtick"} {
		if !strings.Contains(table, want) {
			t.Errorf("hostile table lacks %q:\n%s", want, table)
		}
	}
	// And the checker itself catches what it is for.
	for _, broken := range []string{
		"| k | e |\n| --- | --- |\n",
		"| k | e | d | a | b |\n| --- | --- | --- | --- |\n| `x` | | `y` | m | n |\n",
		"| k | e | d | m |\n| --- | --- | --- | --- |\n| `x | | `y` | m |\n",
		"| k | e | d | m |\n| --- | --- | --- | --- |\n| `x` | | `y` | see <channel id> |\n",
	} {
		if len(checkTableRows(broken)) == 0 {
			t.Errorf("checkTableRows accepted a broken table:\n%s", broken)
		}
	}
}

// Every key says what it means, in the words of the file, not of the Go
// code: no empty meaning, no Go field name, no "(default ...)" that the
// default column already shows.
func TestReferenceMeaningsReadWell(t *testing.T) {
	goName := regexp.MustCompile(`\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b`)
	for _, k := range reference(t) {
		switch {
		case strings.TrimSpace(k.Doc) == "":
			t.Errorf("%s: no meaning (comment the field in config.go)", k.Key)
		case strings.Contains(k.Doc, "(default"):
			t.Errorf("%s: %q repeats the default", k.Key, k.Doc)
		case goName.MatchString(k.Doc):
			t.Errorf("%s: %q names a Go identifier (%s); write the YAML key", k.Key, k.Doc, goName.FindString(k.Doc))
		}
		if strings.Contains(k.Default, "0m0s") {
			t.Errorf("%s: default %q: write it as people type it", k.Key, k.Default)
		}
	}
}
