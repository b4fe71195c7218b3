package wsconf

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// kosme is "κόσμε", the Markus Kuhn test word: 11 bytes, code points of 2, 3, 2, 2 and 2 bytes.
const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// utf8Group is one Autobahn 6.x group: the sequences it sends as single text messages.
type utf8Group struct {
	desc string
	seqs []string
}

// utf8Corpus returns the Autobahn 6.5-6.23 decoder stress corpus, built from the descriptions in
// reliability.md (Markus Kuhn's UTF-8 decoder capability and stress test). Validity is not written down
// here: it is what a correct decoder says (utf8.ValidString), and TestUTF8CorpusIntent checks that
// each group's verdicts are the ones the group is about.
func utf8Corpus() []utf8Group {
	var kosmePrefixes []string
	for n := 1; n <= len(kosme); n++ {
		kosmePrefixes = append(kosmePrefixes, kosme[:n])
	}
	var cont []string
	for n := 1; n <= 7; n++ {
		s := ""
		for i := range n {
			s += string([]byte{0x80 + byte(i%2)*0x3f})
		}
		cont = append(cont, s)
	}
	all := make([]byte, 0, 64)
	for b := 0x80; b <= 0xbf; b++ {
		all = append(all, byte(b))
	}
	// Unexpected continuation bytes: \x80, \xbf, then 2..7 alternating, then all 64.
	unexpected := []string{"\x80", "\xbf"}
	unexpected = append(unexpected, cont[1:]...)
	unexpected = unexpected[:7]
	unexpected = append(unexpected, string(all))
	lonely := func(lo, hi byte) string {
		var s []byte
		for b := int(lo); b <= int(hi); b++ {
			s = append(s, byte(b), ' ')
		}
		return string(s)
	}
	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	concat := ""
	for _, m := range missing {
		concat += m
	}
	sur := map[string]string{"D800": "\xed\xa0\x80", "DB7F": "\xed\xad\xbf", "DB80": "\xed\xae\x80", "DBFF": "\xed\xaf\xbf",
		"DC00": "\xed\xb0\x80", "DF80": "\xed\xbe\x80", "DFFF": "\xed\xbf\xbf"}
	var paired []string
	for _, hi := range []string{"D800", "DB7F", "DB80", "DBFF"} {
		for _, lo := range []string{"DC00", "DFFF"} {
			paired = append(paired, sur[hi]+sur[lo])
		}
	}
	var nonchars []string
	for plane := rune(0); plane <= 0x10; plane++ {
		nonchars = append(nonchars, string(plane<<16|0xFFFE), string(plane<<16|0xFFFF))
	}
	return []utf8Group{
		{"κόσμε and its code-point prefixes, valid and cut inside a code point",
			[]string{kosme, kosme[:7], kosme + "\xce", "\xce\xba\xe1\xbd", kosme[:2]}},
		{"every byte prefix of κόσμε", kosmePrefixes},
		{"first code point of each sequence length (1-4 bytes)", []string{"\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80"}},
		{"first code point of the (illegal) 5- and 6-byte lengths", []string{"\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80"}},
		{"last code point of each sequence length (1-4 bytes, U+10FFFF)", []string{"\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}},
		{"last code point of the 4-byte form past U+10FFFF and of 5-/6-byte forms",
			[]string{"\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf"}},
		{"other boundaries: U+D7FF, U+E000, U+FFFD, U+10FFFF valid; 0xF4 0x90.. (U+110000) invalid",
			[]string{"\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80"}},
		{"unexpected continuation bytes", unexpected},
		{"lonely start bytes of 2-, 3-, 4-, 5- and 6-byte sequences, each followed by a space",
			[]string{lonely(0xc0, 0xdf), lonely(0xe0, 0xef), lonely(0xf0, 0xf7), lonely(0xf8, 0xfb), lonely(0xfc, 0xfd)}},
		{"sequences with the last continuation byte missing", missing},
		{"concatenation of the incomplete sequences", []string{concat}},
		{"impossible bytes 0xFE and 0xFF", []string{"\xfe", "\xff", "\xfe\xfe\xff\xff"}},
		{"overlong '/' (U+002F) in 2..6 bytes", []string{"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf"}},
		{"maximum overlong sequences", []string{"\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf"}},
		{"overlong NUL in 2..6 bytes", []string{"\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80"}},
		{"single UTF-16 surrogates", []string{sur["D800"], sur["DB7F"], sur["DB80"], sur["DBFF"], sur["DC00"], sur["DF80"], sur["DFFF"]}},
		{"paired UTF-16 surrogates", paired},
		{"non-characters U+nFFFE and U+nFFFF in every plane (valid: must echo)", nonchars},
		{"more valid and invalid edges: U+FFFD, U+FDD0, U+FDEF, BOM, U+10FFFF; U+110000 and 0xF5 lead",
			[]string{"\xef\xbf\xbd", "\xef\xb7\x90", "\xef\xb7\xaf", "\xef\xbb\xbf", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80"}},
	}
}

// utf8Case sends s as one text message: valid text must echo, invalid text must fail with 1007.
func utf8Case(id, desc string, steps []Step, s string) Case {
	if utf8.ValidString(s) {
		return Case{ID: id, Desc: desc, Steps: steps, Expect: seq(Msg(s))}
	}
	return Case{ID: id, Desc: desc, Steps: steps, Fail: true, Codes: []int{1007}, AllowDrop: true}
}

func utf8Cases() []Case {
	valid := "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"
	invalid := kosme + "\xed\xa0\x80" + "edited"
	one := func(s string) Step { return sendAll(text(s)) }
	perByteFrames := func(s string) []Frame {
		var fs []Frame
		for i := 0; i < len(s); i++ {
			op := uint8(OpContinuation)
			if i == 0 {
				op = OpText
			}
			fs = append(fs, fr(i == len(s)-1, op, []byte{s[i]}))
		}
		return fs
	}
	cs := []Case{
		{ID: "6.1.1", Desc: "empty text message", Steps: []Step{one("")}, Expect: seq(Msg(""))},
		{ID: "6.1.2", Desc: "three empty fragments", Steps: []Step{sendAll(fr(false, OpText, nil), fr(false, OpContinuation, nil),
			fr(true, OpContinuation, nil))}, Expect: seq(Msg(""))},
		{ID: "6.1.3", Desc: "empty, non-empty, empty fragments", Steps: []Step{sendAll(fr(false, OpText, nil),
			fr(false, OpContinuation, []byte("middle frame payload")), fr(true, OpContinuation, nil))}, Expect: seq(Msg("middle frame payload"))},
		utf8Case("6.2.1", "valid UTF-8 in one frame", []Step{one(valid)}, valid),
		utf8Case("6.2.2", "valid UTF-8 in 2 fragments split on a code point boundary",
			[]Step{sendAll(fr(false, OpText, []byte(valid[:12])), fr(true, OpContinuation, []byte(valid[12:])))}, valid),
		utf8Case("6.2.3", "valid UTF-8 in 1-byte fragments (split inside code points)", []Step{sendAll(perByteFrames(valid)...)}, valid),
		utf8Case("6.2.4", "κόσμε in 1-byte fragments", []Step{sendAll(perByteFrames(kosme)...)}, kosme),
		utf8Case("6.3.1", "invalid UTF-8 in one frame", []Step{one(invalid)}, invalid),
		utf8Case("6.3.2", "invalid UTF-8 in 1-byte fragments", []Step{sendAll(perByteFrames(invalid)...)}, invalid),
	}
	// 6.4: fail-fast. The bad bytes arrive in a middle part after a pause; a strict server fails before
	// the final part is sent.
	const bad = "\xf4\x90\x80\x80" // U+110000
	p1, p3 := kosme, "edited"
	whole := p1 + bad + p3
	frame := AppendFrame(nil, text(whole))
	hdr := len(frame) - len(whole)
	cs = append(cs,
		Case{ID: "6.4.1", Desc: "fail-fast: invalid code point in the middle fragment",
			Steps: []Step{
				sendAll(fr(false, OpText, []byte(p1))),
				{Sleep: time.Second, Frames: []Frame{fr(false, OpContinuation, []byte(bad))}},
				{Sleep: time.Second, Frames: []Frame{fr(true, OpContinuation, []byte(p3))}, FailFast: true},
			}, Fail: true, Codes: []int{1007}, AllowDrop: true},
		Case{ID: "6.4.2", Desc: "fail-fast: the invalid sequence starts at the end of the first fragment",
			Steps: []Step{
				sendAll(fr(false, OpText, []byte(p1+bad[:1]))),
				{Sleep: time.Second, Frames: []Frame{fr(false, OpContinuation, []byte(bad[1:]))}},
				{Sleep: time.Second, Frames: []Frame{fr(true, OpContinuation, []byte(p3))}, FailFast: true},
			}, Fail: true, Codes: []int{1007}, AllowDrop: true},
		Case{ID: "6.4.3", Desc: "fail-fast inside one frame: header+valid part, pause, invalid part, pause, rest",
			Steps: []Step{
				{Raw: frame[:hdr+len(p1)]},
				{Sleep: time.Second, Raw: frame[hdr+len(p1) : hdr+len(p1)+len(bad)]},
				{Sleep: time.Second, Raw: frame[hdr+len(p1)+len(bad):], FailFast: true},
			}, Fail: true, Codes: []int{1007}, AllowDrop: true},
		Case{ID: "6.4.4", Desc: "fail-fast inside one frame: the invalid sequence is cut across the parts",
			Steps: []Step{
				{Raw: frame[:hdr+len(p1)+1]},
				{Sleep: time.Second, Raw: frame[hdr+len(p1)+1 : hdr+len(p1)+2]},
				{Sleep: time.Second, Raw: frame[hdr+len(p1)+2:], FailFast: true},
			}, Fail: true, Codes: []int{1007}, AllowDrop: true},
	)
	for g, grp := range utf8Corpus() {
		for i, s := range grp.seqs {
			cs = append(cs, utf8Case(fmt.Sprintf("6.%d.%d", g+5, i+1), grp.desc, []Step{one(s)}, s))
		}
	}
	return cs
}
