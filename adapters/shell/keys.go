package shell

import (
	"bufio"
	"io"
	"unicode"
)

// keyKind is what a key press means to the line editor.
type keyKind int

const (
	keyRune      keyKind = iota // a character to insert (key.r)
	keyEnter                    // Enter (CR or LF)
	keyBackspace                // Backspace, Ctrl-H
	keyDelete                   // Delete
	keyLeft
	keyRight
	keyUp
	keyDown
	keyHome   // Home, Ctrl-A
	keyEnd    // End, Ctrl-E
	keyCtrlC  // interrupt: cancel the line or the running check
	keyCtrlD  // end of input on an empty line, else delete
	keyKill   // Ctrl-U: the whole line
	keyWord   // Ctrl-W: the word before the cursor
	keyRedraw // Ctrl-L: clear the screen
	keyIgnore // anything else (Tab, Ctrl-Z, unknown escape sequences)
)

type key struct {
	kind keyKind
	r    rune
}

// readKeys decodes a terminal's raw input (UTF-8, with VT100/xterm escape
// sequences for the arrows and Home/End/Delete) into keys, until in fails;
// then it closes keys.
func readKeys(in io.Reader, keys chan<- key) {
	defer close(keys)
	br := bufio.NewReader(in)
	for {
		r, _, err := br.ReadRune()
		if err != nil {
			return
		}
		k := decode(r, br)
		if k.kind != keyIgnore {
			keys <- k
		}
	}
}

func decode(r rune, br *bufio.Reader) key {
	switch r {
	case '\r', '\n':
		return key{kind: keyEnter}
	case 0x7f, 0x08:
		return key{kind: keyBackspace}
	case 0x01:
		return key{kind: keyHome}
	case 0x05:
		return key{kind: keyEnd}
	case 0x02:
		return key{kind: keyLeft}
	case 0x06:
		return key{kind: keyRight}
	case 0x03:
		return key{kind: keyCtrlC}
	case 0x04:
		return key{kind: keyCtrlD}
	case 0x15:
		return key{kind: keyKill}
	case 0x17:
		return key{kind: keyWord}
	case 0x0c:
		return key{kind: keyRedraw}
	case 0x10:
		return key{kind: keyUp}
	case 0x0e:
		return key{kind: keyDown}
	case 0x1b:
		return escape(br)
	}
	if r == unicode.ReplacementChar || r < 0x20 || !unicode.IsPrint(r) {
		return key{kind: keyIgnore}
	}
	return key{kind: keyRune, r: r}
}

// escape reads the rest of an escape sequence: ESC [ params final, or
// ESC O final (the application-cursor form of the arrows).
func escape(br *bufio.Reader) key {
	b, err := br.ReadByte()
	if err != nil || (b != '[' && b != 'O') {
		return key{kind: keyIgnore}
	}
	var params []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			return key{kind: keyIgnore}
		}
		if c >= 0x40 && c <= 0x7e { // the final byte
			switch {
			case c == 'A':
				return key{kind: keyUp}
			case c == 'B':
				return key{kind: keyDown}
			case c == 'C':
				return key{kind: keyRight}
			case c == 'D':
				return key{kind: keyLeft}
			case c == 'H':
				return key{kind: keyHome}
			case c == 'F':
				return key{kind: keyEnd}
			case c == '~' && (string(params) == "1" || string(params) == "7"):
				return key{kind: keyHome}
			case c == '~' && (string(params) == "4" || string(params) == "8"):
				return key{kind: keyEnd}
			case c == '~' && string(params) == "3":
				return key{kind: keyDelete}
			}
			return key{kind: keyIgnore}
		}
		if len(params) > 16 {
			return key{kind: keyIgnore}
		}
		params = append(params, c)
	}
}
