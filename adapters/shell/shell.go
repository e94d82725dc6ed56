// Package shell is the bot in a terminal, like Hubot's shell adapter: each
// line typed is a command from the local user in the channel "shell", and
// the bot's messages print the way a chat would show them: thread parents
// numbered (#1), replies nested under them, parent edits shown as updates.
package shell

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/wire"
)

// Options are the shell's dependencies.
type Options struct {
	Out     io.Writer
	User    string // the local user ($USER)
	Handler bot.Handler
	Now     func() time.Time
	// Prompt is printed before each line is read (interactive use only).
	Prompt string
	// Control, when set, is asked what still runs when the user presses
	// Ctrl-C or leaves an interactive session (RunTerminal).
	Control Control
}

// Shell implements bot.Chat on a terminal and feeds it typed lines.
type Shell struct {
	opt     Options
	channel wire.Channel
	user    wire.User

	mu      sync.Mutex // serialises output so messages never interleave mid-message
	threads int
	lines   int
	editing bool   // RunTerminal: the prompt and ed are on the last line
	ed      editor // the line being typed (RunTerminal)
}

// New builds a Shell.
func New(o Options) *Shell {
	if o.User == "" {
		o.User = "you"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Shell{
		opt:     o,
		channel: wire.Channel{Chat: "shell", ID: "shell", Name: "shell"},
		user:    wire.User{ID: o.User, Name: o.User},
	}
}

// Chat returns the shell as the bot's way to talk back.
func (s *Shell) Chat() bot.Chat { return s }

// Run reads commands from in until EOF (or exit) or ctx is done, handing
// each to the Handler: the shell fed by a script or a pipe (RunTerminal is
// the interactive one). A line may start with "#N" to speak in thread N
// ("#1 again"); a bare "again" goes to the latest thread.
func (s *Shell) Run(ctx context.Context, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		defer close(lines)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
	}()
	s.prompt()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line, ok := <-lines:
			if !ok {
				select {
				case err := <-errc:
					if err != nil {
						return fmt.Errorf("shell: reading input: %w", err)
					}
				default:
				}
				return nil
			}
			switch local(line) {
			case "quit":
				return nil
			case "clear":
				continue // no screen to clear
			}
			if err := s.Say(ctx, line); err != nil {
				s.print("", "", bot.Message{Status: bot.StatusError, Text: err.Error()})
			}
			s.prompt() // answers arrive later, after it, as in a chat window
		}
	}
}

func (s *Shell) prompt() {
	if s.opt.Prompt == "" {
		return
	}
	s.mu.Lock()
	fmt.Fprint(s.opt.Out, s.opt.Prompt)
	s.mu.Unlock()
}

// Say hands one typed line to the Handler.
func (s *Shell) Say(ctx context.Context, line string) error {
	text := strings.TrimSpace(line)
	if text == "" || strings.HasPrefix(text, "//") {
		return nil
	}
	s.mu.Lock()
	s.lines++
	id := "shell-" + strconv.FormatInt(s.opt.Now().UnixNano(), 36) + "-" + strconv.Itoa(s.lines)
	latest := s.threads
	s.mu.Unlock()
	cmd := bot.Command{ID: id, Channel: s.channel, User: s.user, Text: text, At: s.opt.Now()}
	if n, rest, ok := threadPrefix(text); ok {
		cmd.Text = rest
		cmd.Thread = &wire.Thread{Channel: s.channel, ID: strconv.Itoa(n)}
	} else if latest > 0 && isThreadVerb(text) {
		cmd.Thread = &wire.Thread{Channel: s.channel, ID: strconv.Itoa(latest)}
	}
	return s.opt.Handler.Handle(ctx, s, cmd)
}

// threadPrefix splits "#3 again" into 3 and "again".
func threadPrefix(text string) (int, string, bool) {
	if !strings.HasPrefix(text, "#") {
		return 0, "", false
	}
	num, rest, _ := strings.Cut(text[1:], " ")
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 {
		return 0, "", false
	}
	return n, strings.TrimSpace(rest), true
}

// isThreadVerb: commands that mean something only inside a thread.
func isThreadVerb(text string) bool {
	f := strings.Fields(strings.ToLower(text))
	if len(f) > 0 && f[0] == "/portcheck" {
		f = f[1:]
	}
	return len(f) == 1 && (f[0] == "again" || f[0] == "recheck" || f[0] == "re-check")
}

// print writes m with its first line after prefix and the rest after indent.
func (s *Shell) print(prefix, indent string, m bot.Message) {
	text := strings.TrimRight(bot.RenderText(m), "\n")
	var b strings.Builder
	for i, l := range strings.Split(text, "\n") {
		if i == 0 {
			b.WriteString(prefix + l + "\n")
			continue
		}
		b.WriteString(strings.TrimRight(indent+l, " ") + "\n")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := b.String()
	if s.editing {
		// Over the prompt line, then the prompt and the line being typed
		// again below the message.
		out = "\r\x1b[K" + out + s.ed.render(s.opt.Prompt)
	}
	io.WriteString(s.opt.Out, out) //nolint:errcheck // a terminal that stopped reading has no one to tell
}

// Start prints a thread parent: "#1 ⏳ checking web01:443 from local…".
func (s *Shell) Start(_ context.Context, c wire.Channel, m bot.Message) (wire.Thread, error) {
	s.mu.Lock()
	s.threads++
	n := s.threads
	s.mu.Unlock()
	tag := "#" + strconv.Itoa(n) + " "
	s.print(tag, strings.Repeat(" ", len(tag)), m)
	return wire.Thread{Channel: c, ID: strconv.Itoa(n)}, nil
}

// Reply prints a reply nested under its parent.
func (s *Shell) Reply(_ context.Context, t wire.Thread, m bot.Message) error {
	// The thread number repeats on every reply: with several checks in
	// flight, replies of different threads arrive interleaved.
	tag := "#" + t.ID + " └ "
	s.print(tag, strings.Repeat(" ", len([]rune(tag))), m)
	return nil
}

// Update prints an edit of the parent.
func (s *Shell) Update(_ context.Context, t wire.Thread, m bot.Message) error {
	tag := "#" + t.ID + " "
	s.print(tag+"↻ updated: ", strings.Repeat(" ", len(tag)), m)
	return nil
}

// Ephemeral prints a message only the caller would see in a chat.
func (s *Shell) Ephemeral(_ context.Context, _ wire.Channel, _ wire.User, m bot.Message) error {
	s.print("(only you) ", "   ", m)
	return nil
}
