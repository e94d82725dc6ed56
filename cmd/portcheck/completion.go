package main

import (
	"fmt"
	"slices"
	"strings"
)

// Shell completion scripts, generated from the command table: the
// commands, their verbs, their flags and the values those take. They
// complete statically (no call back into portcheck), so they work where
// the binary cannot run a config check.

// runCompletion is `portcheck completion bash|zsh|fish`.
func runCompletion(c *commandDoc, args []string, io stdio) int {
	if len(args) != 1 {
		return c.fail(io, "", "say which shell: bash, zsh or fish")
	}
	var script string
	switch args[0] {
	case "bash":
		script = bashCompletion()
	case "zsh":
		script = zshCompletion()
	case "fish":
		script = fishCompletion()
	default:
		what := fmt.Sprintf("unknown shell %q (want bash, zsh or fish)", args[0])
		if s := suggest(args[0], []string{"bash", "zsh", "fish"}); s != "" {
			what = fmt.Sprintf("unknown shell %q (did you mean %s?)", args[0], s)
		}
		return c.fail(io, "", "%s", what)
	}
	fmt.Fprint(io.out, script)
	return 0
}

// flagsOf are the flags completion offers for cmd (and verb): the table's,
// then --help.
func flagsOf(c *commandDoc, verb string) []flagDoc {
	var out []flagDoc
	for _, f := range c.Flags {
		if verb == "" || len(f.Verbs) == 0 || slices.Contains(f.Verbs, verb) {
			out = append(out, f)
		}
	}
	return append(out, flagDoc{Name: "help", Help: "show this help"})
}

// positional says what a command's (or verb's) arguments are: commands,
// verbs' FILE, shells; "" for free text (targets) or none.
func positional(c *commandDoc, verb string) (words []string, files bool) {
	switch c.Name {
	case "help":
		return commandNames(), false
	case "completion":
		return []string{"bash", "zsh", "fish"}, false
	}
	if v := c.verb(verb); v != nil {
		return nil, strings.Contains(v.Args, "FILE")
	}
	return nil, false
}

// short is a flag's help cut to a phrase for a completion menu: before a
// parenthesis, a colon or a semicolon, unless that leaves too little.
func short(help string) string {
	for _, sep := range []string{" (", "; ", ": "} {
		if i := strings.Index(help, sep); i >= 15 {
			help = help[:i]
		}
	}
	if r := []rune(help); len(r) > 60 {
		help = string(r[:59]) + "…"
	}
	return help
}

func flagWords(fs []flagDoc) string {
	var w []string
	for _, f := range fs {
		w = append(w, "--"+f.Name)
	}
	return strings.Join(w, " ")
}

func bashCompletion() string {
	var b strings.Builder
	b.WriteString(`# bash completion for portcheck (generated: portcheck completion bash)
# source <(portcheck completion bash), or save it in /etc/bash_completion.d/portcheck
_portcheck_values() {
    # $1: the flag before the cursor; $2..: the flags that take a value
    local prev=$1
    shift
    local f
    for f in "$@"; do
        [[ $prev == "$f" ]] && return 0
    done
    return 1
}

_portcheck() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    if [[ $COMP_CWORD -eq 1 ]]; then
`)
	fmt.Fprintf(&b, "        COMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.Join(commandNames(), " ")+" --help --version")
	b.WriteString("        return\n    fi\n    case ${COMP_WORDS[1]} in\n")
	for i := range commands {
		c := &commands[i]
		fmt.Fprintf(&b, "    %s)\n", c.Name)
		if len(c.Verbs) == 0 {
			bashBody(&b, c, "", "        ")
		} else {
			b.WriteString("        if [[ $COMP_CWORD -eq 2 ]]; then\n")
			fmt.Fprintf(&b, "            COMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.ReplaceAll(verbList(c), "|", " ")+" --help")
			b.WriteString("            return\n        fi\n        case ${COMP_WORDS[2]} in\n")
			for _, v := range c.Verbs {
				fmt.Fprintf(&b, "        %s)\n", v.Name)
				bashBody(&b, c, v.Name, "            ")
				b.WriteString("            ;;\n")
			}
			b.WriteString("        esac\n")
		}
		b.WriteString("        ;;\n")
	}
	b.WriteString("    esac\n}\n\ncomplete -F _portcheck portcheck\n")
	return b.String()
}

// bashBody completes one command (or verb): a flag's value after the flag,
// flags after a dash, else its positional words or files.
func bashBody(b *strings.Builder, c *commandDoc, verb, in string) {
	fs := flagsOf(c, verb)
	var takes []string
	for _, f := range fs {
		if f.Arg == "" {
			continue
		}
		takes = append(takes, "--"+f.Name)
		switch {
		case len(f.Values) > 0:
			fmt.Fprintf(b, "%sif [[ $prev == --%s ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", in, f.Name, strings.Join(f.Values, " "))
		case f.File:
			fmt.Fprintf(b, "%sif [[ $prev == --%s ]]; then compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")); return; fi\n", in, f.Name)
		}
	}
	if len(takes) > 0 {
		fmt.Fprintf(b, "%sif _portcheck_values \"$prev\" %s; then return; fi\n", in, strings.Join(takes, " "))
	}
	fmt.Fprintf(b, "%sif [[ $cur == -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", in, flagWords(fs))
	words, files := positional(c, verb)
	switch {
	case len(words) > 0:
		fmt.Fprintf(b, "%sCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n", in, strings.Join(words, " "))
	case files:
		fmt.Fprintf(b, "%scompopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\"))\n", in)
	}
}

// zshQuote puts s in single quotes for zsh.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// zshDesc escapes a description for an _arguments spec's brackets.
func zshDesc(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, ":", `\:`).Replace(s)
}

func zshCompletion() string {
	var b strings.Builder
	b.WriteString(`#compdef portcheck
# zsh completion for portcheck (generated: portcheck completion zsh)
# portcheck completion zsh > "${fpath[1]}/_portcheck", then restart zsh

_portcheck() {
    local -a commands
    commands=(
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "        %s\n", zshQuote(c.Name+":"+zshDesc(c.Summary)))
	}
	b.WriteString(`    )
    if (( CURRENT == 2 )); then
        _describe -t commands 'portcheck command' commands
        return
    fi
    local cmd=$words[2]
    shift words
    (( CURRENT-- ))
    case $cmd in
`)
	for i := range commands {
		c := &commands[i]
		fmt.Fprintf(&b, "    %s)\n", c.Name)
		if len(c.Verbs) == 0 {
			zshArguments(&b, c, "", "        ")
		} else {
			b.WriteString("        if (( CURRENT == 2 )); then\n            local -a verbs\n            verbs=(\n")
			for _, v := range c.Verbs {
				fmt.Fprintf(&b, "                %s\n", zshQuote(v.Name+":"+zshDesc(v.Summary)))
			}
			b.WriteString("            )\n            _describe -t verbs 'verb' verbs\n            return\n        fi\n")
			b.WriteString("        local verb=$words[2]\n        shift words\n        (( CURRENT-- ))\n        case $verb in\n")
			for _, v := range c.Verbs {
				fmt.Fprintf(&b, "        %s)\n", v.Name)
				zshArguments(&b, c, v.Name, "            ")
				b.WriteString("            ;;\n")
			}
			b.WriteString("        esac\n")
		}
		b.WriteString("        ;;\n")
	}
	b.WriteString("    esac\n}\n\n_portcheck \"$@\"\n")
	return b.String()
}

func zshArguments(b *strings.Builder, c *commandDoc, verb, in string) {
	var specs []string
	for _, f := range flagsOf(c, verb) {
		if f.Name == "help" {
			specs = append(specs, zshQuote("(- *)")+"{-h,--help}"+zshQuote("[show this help]"))
			continue
		}
		spec := "--" + f.Name + "[" + zshDesc(short(f.Help)) + "]"
		if strings.Contains(f.Help, "repeatable") {
			spec = "*" + spec
		}
		switch {
		case f.Arg == "":
		case len(f.Values) > 0:
			spec += ":" + zshDesc(f.Arg) + ":(" + strings.Join(f.Values, " ") + ")"
		case f.File:
			spec += ":" + zshDesc(f.Arg) + ":_files"
		default:
			spec += ":" + zshDesc(f.Arg) + ": "
		}
		specs = append(specs, zshQuote(spec))
	}
	words, files := positional(c, verb)
	switch {
	case len(words) > 0:
		specs = append(specs, zshQuote("*:argument:("+strings.Join(words, " ")+")"))
	case files:
		specs = append(specs, zshQuote("*:file:_files"))
	case c.Name == "check":
		specs = append(specs, zshQuote("*:target: "))
	}
	fmt.Fprintf(b, "%s_arguments -s \\\n%s    %s\n", in, in, strings.Join(specs, " \\\n"+in+"    "))
}

// fishQuote puts s in single quotes for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

func fishCompletion() string {
	var b strings.Builder
	b.WriteString(`# fish completion for portcheck (generated: portcheck completion fish)
# portcheck completion fish > ~/.config/fish/completions/portcheck.fish

# __portcheck_at WORD...: the command line so far is portcheck WORD... and more
function __portcheck_at
    set -l words (commandline -opc)
    set -l i 2
    for w in $argv
        if test (count $words) -lt $i; or test "$words[$i]" != "$w"
            return 1
        end
        set i (math $i + 1)
    end
    return 0
end

# __portcheck_nth N: the word being completed is the Nth after portcheck
function __portcheck_nth
    test (count (commandline -opc)) -eq $argv[1]
end

complete -c portcheck -f
complete -c portcheck -n '__portcheck_nth 1' -l help -d 'list the commands'
complete -c portcheck -n '__portcheck_nth 1' -l version -d 'print build information'
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "complete -c portcheck -n '__portcheck_nth 1' -a %s -d %s\n", c.Name, fishQuote(c.Summary))
	}
	for i := range commands {
		c := &commands[i]
		if len(c.Verbs) == 0 {
			fishFlags(&b, c, "", "__portcheck_at "+c.Name)
			continue
		}
		for _, v := range c.Verbs {
			fmt.Fprintf(&b, "complete -c portcheck -n '__portcheck_at %s; and __portcheck_nth 2' -a %s -d %s\n", c.Name, v.Name, fishQuote(v.Summary))
		}
		for _, v := range c.Verbs {
			fishFlags(&b, c, v.Name, "__portcheck_at "+c.Name+" "+v.Name)
		}
	}
	return b.String()
}

func fishFlags(b *strings.Builder, c *commandDoc, verb, cond string) {
	for _, f := range flagsOf(c, verb) {
		line := fmt.Sprintf("complete -c portcheck -n '%s' -l %s", cond, f.Name)
		switch {
		case f.Arg == "":
		case len(f.Values) > 0:
			line += " -x -a " + fishQuote(strings.Join(f.Values, " "))
		case f.File:
			line += " -r -F"
		default:
			line += " -x"
		}
		fmt.Fprintf(b, "%s -d %s\n", line, fishQuote(short(f.Help)))
	}
	words, files := positional(c, verb)
	switch {
	case len(words) > 0:
		fmt.Fprintf(b, "complete -c portcheck -n '%s' -a %s\n", cond, fishQuote(strings.Join(words, " ")))
	case files:
		fmt.Fprintf(b, "complete -c portcheck -n '%s' -F\n", cond)
	}
}
