package valve

import (
	"fmt"
	"regexp"
	"strings"
)

// jsRegex is a JavaScript regular expression translated to Go's RE2 syntax.
type jsRegex struct {
	source string // JS source, for ToString
	flags  string
	global bool
	re     *regexp.Regexp
}

// jsSpaceClass is the body of a character class matching JS \s.
const jsSpaceClass = `\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}`

// compileJSRegex translates the common subset of JavaScript regular
// expressions to Go syntax. Constructs RE2 cannot express (backreferences,
// lookaround, the sticky flag) are rejected with an error, never silently
// changed in meaning.
func compileJSRegex(src, flags string) (*jsRegex, error) {
	r := &jsRegex{source: src, flags: flags}
	var prefix strings.Builder
	dotAll := false
	seen := map[rune]bool{}
	for _, f := range flags {
		if seen[f] {
			return nil, fmt.Errorf("invalid regular expression flags %q", flags)
		}
		seen[f] = true
		switch f {
		case 'g':
			r.global = true
		case 'i':
			prefix.WriteString("(?i)")
		case 'm':
			prefix.WriteString("(?m)")
		case 's':
			dotAll = true
		case 'u':
		default:
			return nil, fmt.Errorf("unsupported regular expression flag %q", f)
		}
	}
	var out strings.Builder
	out.WriteString(prefix.String())
	inClass := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\\':
			if i+1 >= len(src) {
				return nil, fmt.Errorf("invalid regular expression /%s/: \\ at end of pattern", src)
			}
			i++
			e := src[i]
			switch {
			case e >= '1' && e <= '9' && !inClass:
				return nil, fmt.Errorf("regular expression /%s/: backreferences are not supported", src)
			case e == '0':
				out.WriteString(`\x00`)
			case e == 's':
				if inClass {
					out.WriteString(jsSpaceClass)
				} else {
					out.WriteString("[" + jsSpaceClass + "]")
				}
			case e == 'S':
				if inClass {
					return nil, fmt.Errorf("regular expression /%s/: \\S inside a class is not supported", src)
				}
				out.WriteString("[^" + jsSpaceClass + "]")
			case e == 'u':
				if i+4 < len(src) && isHex4(src[i+1:i+5]) {
					out.WriteString(`\x{` + src[i+1:i+5] + `}`)
					i += 4
				} else if i+1 < len(src) && src[i+1] == '{' {
					end := strings.IndexByte(src[i:], '}')
					if end < 0 {
						return nil, fmt.Errorf("invalid regular expression /%s/: bad \\u escape", src)
					}
					out.WriteString(`\x` + src[i+1:i+end+1])
					i += end
				} else {
					return nil, fmt.Errorf("invalid regular expression /%s/: bad \\u escape", src)
				}
			case e == 'c' || e == 'k' || e == 'p' || e == 'P':
				return nil, fmt.Errorf("regular expression /%s/: \\%c is not supported", src, e)
			case e == '/':
				out.WriteByte('/')
			case e == 'd', e == 'D', e == 'w', e == 'W', e == 'b', e == 'B', e == 'n', e == 'r', e == 't',
				e == 'f', e == 'v', e == 'x':
				out.WriteByte('\\')
				out.WriteByte(e)
			case e < 0x80 && !isAlnum(e):
				out.WriteByte('\\')
				out.WriteByte(e)
			default:
				// JS identity escape of a letter or non-ASCII char means the char itself.
				if e < 0x80 {
					return nil, fmt.Errorf("regular expression /%s/: \\%c is not supported", src, e)
				}
				out.WriteByte(e)
			}
		case inClass:
			if c == ']' {
				inClass = false
			}
			if c == '[' {
				out.WriteString(`\[`)
				continue
			}
			out.WriteByte(c)
		case c == '[':
			inClass = true
			if strings.HasPrefix(src[i:], "[^]") {
				out.WriteString(`[\x{0}-\x{10FFFF}]`)
				i += 2
				inClass = false
				continue
			}
			if strings.HasPrefix(src[i:], "[]") {
				return nil, fmt.Errorf("regular expression /%s/: empty class is not supported", src)
			}
			out.WriteByte(c)
			if i+1 < len(src) && src[i+1] == '^' {
				out.WriteByte('^')
				i++
			}
			// A leading ']' is literal in RE2 but closes the class in JS; JS "[]" handled above.
		case c == '(':
			if strings.HasPrefix(src[i:], "(?=") || strings.HasPrefix(src[i:], "(?!") ||
				strings.HasPrefix(src[i:], "(?<=") || strings.HasPrefix(src[i:], "(?<!") {
				return nil, fmt.Errorf("regular expression /%s/: lookaround is not supported", src)
			}
			out.WriteByte(c)
		case c == '.' && !dotAll:
			out.WriteString(`[^\n\r\x{2028}\x{2029}]`)
		case c == '.' && dotAll:
			out.WriteString(`(?s:.)`)
		case c == '$':
			if !seen['m'] {
				out.WriteString(`\z`)
			} else {
				out.WriteByte(c)
			}
		default:
			out.WriteByte(c)
		}
	}
	if inClass {
		return nil, fmt.Errorf("invalid regular expression /%s/: missing ]", src)
	}
	re, err := regexp.Compile(out.String())
	if err != nil {
		return nil, fmt.Errorf("invalid or unsupported regular expression /%s/: %v", src, err)
	}
	r.re = re
	return r, nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isHex4(s string) bool {
	for i := 0; i < 4; i++ {
		if hexVal(s[i]) < 0 {
			return false
		}
	}
	return true
}
