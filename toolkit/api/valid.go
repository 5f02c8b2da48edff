package api

// validJSON reports whether data is one JSON value with optional white
// space around it: the same answer as json.Valid, for the same grammar and
// nesting limit, in a fraction of its time (it matters on every request
// through the gateway). It says nothing about where an error is: for
// that, badJSON asks encoding/json.
func validJSON(data []byte) bool {
	var (
		stackBuf [32]byte
		stack    = stackBuf[:0] // the open '{' and '['
		top      byte
		i        int
	)
value:
	i = skipSpace(data, i)
	if i >= len(data) {
		return false
	}
	switch c := data[i]; c {
	case '{', '[':
		if len(stack) == maxNesting {
			return false
		}
		stack = append(stack, c)
		if i = skipSpace(data, i+1); i < len(data) && data[i] == c+2 { // '}' and ']'
			stack = stack[:len(stack)-1]
			i++
			break
		}
		if c == '{' {
			goto key
		}
		goto value
	case '"':
		if i = scanString(data, i); i < 0 {
			return false
		}
	case 't':
		if i = scanLiteral(data, i, "true"); i < 0 {
			return false
		}
	case 'f':
		if i = scanLiteral(data, i, "false"); i < 0 {
			return false
		}
	case 'n':
		if i = scanLiteral(data, i, "null"); i < 0 {
			return false
		}
	default:
		if i = scanNumber(data, i); i < 0 {
			return false
		}
	}
next: // after a value
	i = skipSpace(data, i)
	if len(stack) == 0 {
		return i == len(data)
	}
	if i >= len(data) {
		return false
	}
	top = stack[len(stack)-1]
	switch data[i] {
	case ',':
		i++
		if top == '{' {
			goto key
		}
		goto value
	case top + 2:
		stack = stack[:len(stack)-1]
		i++
		goto next
	}
	return false
key:
	if i = skipSpace(data, i); i >= len(data) || data[i] != '"' {
		return false
	}
	if i = scanString(data, i); i < 0 {
		return false
	}
	if i = skipSpace(data, i); i >= len(data) || data[i] != ':' {
		return false
	}
	i++
	goto value
}

// maxNesting is encoding/json's limit on nested objects and arrays.
const maxNesting = 10000

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString returns the index after the string that starts with the
// quote at data[i], or -1 if it is not a valid string.
func scanString(data []byte, i int) int {
	for i++; i < len(data); {
		for i < len(data) && plain[data[i]] {
			i++
		}
		if i >= len(data) {
			break
		}
		switch c := data[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(data) {
				return -1
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++
		}
	}
	return -1
}

// plain marks the bytes that stand for themselves in a string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanLiteral returns the index after lit at data[i], or -1.
func scanLiteral(data []byte, i int, lit string) int {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanNumber returns the index after the number at data[i], or -1 if
// there is none: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(data []byte, i int) int {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		j := skipDigits(data, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := skipDigits(data, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}
