package web

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// checkShapeReference is checkShape as it was written first, on top of
// json.Decoder.Token: the reference the scanner must agree with on every
// input, well-formed or not.
func checkShapeReference(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		keys     map[string]bool // lower-cased keys seen, for objects
		isObject bool
		wantKey  bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "" // EOF, or a syntax error the decoder will report
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) == maxDepth {
					return "malformed JSON: nested deeper than 32 levels"
				}
				if top != nil && top.isObject {
					top.wantKey = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, isObject: d == '{', wantKey: d == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if str, ok := tok.(string); ok && len(str) > maxStringLen {
			return "malformed JSON: a string is longer than " + strconv.Itoa(maxStringLen) + " bytes"
		}
		if top == nil || !top.isObject {
			continue
		}
		if top.wantKey {
			key, _ := tok.(string)
			if len(key) > maxKeyLen {
				return "malformed JSON: a key is longer than " + strconv.Itoa(maxKeyLen) + " bytes"
			}
			lower := strings.ToLower(key)
			if top.keys[lower] {
				return "malformed JSON: key \"" + key + "\" appears twice in one object"
			}
			top.keys[lower] = true
			top.wantKey = false
			continue
		}
		top.wantKey = true
	}
}

// shapeAgrees fails the test when the scanner and the reference answer
// differently.
func shapeAgrees(t *testing.T, b []byte) string {
	t.Helper()
	got, want := checkShape(b), checkShapeReference(b)
	if got != want {
		t.Fatalf("checkShape(%.300q) = %q, the reference says %q", b, got, want)
	}
	return got
}

func nested(open, close string, n int, inner string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

func TestShapeRules(t *testing.T) {
	const (
		dup      = `malformed JSON: key "%s" appears twice in one object`
		deep     = "malformed JSON: nested deeper than 32 levels"
		longStr  = "malformed JSON: a string is longer than 262144 bytes"
		longKey  = "malformed JSON: a key is longer than 256 bytes"
		notObj   = "the request body must be a JSON object"
		afterObj = "malformed JSON: data after the object"
	)
	dupOf := func(k string) string { return strings.Replace(dup, "%s", k, 1) }
	long := strings.Repeat("x", maxStringLen)
	key := strings.Repeat("k", maxKeyLen)
	for _, c := range []struct {
		body, msg string // msg "" is a body readObject accepts
	}{
		{`{"name":"p-123","price":19.99,"sku":"SKU-123","stock":5,"tags":["a","b"]}`, ""},
		{`{"a":1,"a":2}`, dupOf("a")},
		{`{"name":1,"Name":2}`, dupOf("Name")},
		{`{"a":1,"\u0041":2}`, dupOf("A")},
		{`{"k":1,"\u212a":2}`, dupOf("\u212a")}, // the Kelvin sign lower-cases to k
		{`{"é":1,"\u00c9":2}`, dupOf("É")},
		{`{"a":{"b":1},"b":{"a":1}}`, ""},       // the same key in different objects
		{`{"a":[{"b":1},{"b":2}]}`, ""},         // and in sibling objects
		{`{"a":{"b":1,"c":{"b":1}},"B":2}`, ""}, // an inner key does not count outside
		{`{"a":{"b":1,"c":{"x":1}},"C":2}`, ""}, // nor an outer key inside
		{`{"a":{"b":1,"c":{"x":1}},"A":2}`, dupOf("A")},
		{`{"a":1,"a":2,`, dupOf("a")}, // found before the syntax error
		{`{"a":1,,"a":2}`, "malformed JSON: invalid character ',' looking for beginning of object key string"},
		{`{"a":1} {"a":1,"a":2}`, dupOf("a")},
		{nested(`{"a":`, `}`, 32, `1`), ""},
		{`{"a":` + nested(`[`, `]`, 31, ``) + `}`, ""},
		{nested(`[`, `]`, 33, ``), deep},
		{nested(`{"a":`, `}`, 31, `[{}]`), deep},
		{`{"s":"` + long + `"}`, ""},
		{`{"s":"` + long + `x"}`, longStr},
		{`{"s":"` + long[:maxStringLen-2] + `\n\t"}`, ""}, // longer as written, not decoded
		{`{"s":"` + long + `\n"}`, longStr},
		{`{"` + key + `":1}`, ""},
		{`{"` + key + `k":1}`, longKey},
		{`{"` + key[:maxKeyLen-1] + `\u00e9":1}`, longKey}, // é is two bytes
		{`{"` + long + `x":1}`, longStr},
		{`["` + long + `x"]`, longStr},
		{`{"a":1}x`, afterObj},
		{`[1,2]`, notObj},
		{`{"a":01}`, "malformed JSON: invalid character '1' after object key:value pair"},
	} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
		req.Header.Set("Content-Type", "application/json")
		_, aerr := readObject(httptest.NewRecorder(), req, 1<<20)
		switch {
		case c.msg == "" && aerr != nil:
			t.Errorf("%.80s: refused: %d %s", c.body, aerr.Status, aerr.Message)
		case c.msg != "" && (aerr == nil || aerr.Status != http.StatusBadRequest || aerr.Code != "malformed_json" || aerr.Message != c.msg):
			t.Errorf("%.80s: got %+v, want 400 %q", c.body, aerr, c.msg)
		}
		shapeAgrees(t, []byte(c.body))
	}
}

// TestShapeTricky holds inputs where json.Decoder.Token is easy to get
// wrong: values that follow one another without a separator, escapes,
// bytes that are not UTF-8.
func TestShapeTricky(t *testing.T) {
	for _, s := range []string{
		``, ` `, `01`, `1{`, `1{"a":1,"a":1}`, `"a""b"`, `truefalse`, `-1-1`, `1.5.5`, `0e`, `0e+`, `-`, `1.`, `1.e1`, `-01`,
		`tru`, `trux`, `nul`, `{}{"a":1,"A":1}`, `[]]`, `]`, `}`, `:`, `,`, `[,1]`, `[1,]`, `{"a":1,}`, `{,}`, `{"a"}`,
		`{"a" "a"}`, `{"a":1 "a":1}`, `{"a":1,"a"`, `{"a":1,"a"x`, `{"a":1,"A":`, `{"a":1,"A"`, `{"a":1,"A`,
		`{"a":[1 2],"a":1}`, `[{"a":1}{"a":1,"a":2}]`, `{"a":{}"a":1}`, `{"a":{},"a":1}`, `{"a":1,"\u0061":1}`,
		`{"\ud800":1,"\ufffd":1}`, "{\"\xff\":1,\"\\ufffd\":1}", "{\"\xff\":1,\"\xfe\":1}", `{"\ud83d\ude00":1,"😀":1}`,
		`{"\ud83d\u0041":1,"\ufffdA":1}`, `{"\/":1,"/":1}`, `{"\"":1,"\u0022":1}`, `{"a\u0000":1,"A\u0000":1}`,
		`{"\u00":1}`, `{"\x":1}`, "{\"a\x01\":1}", "{\"a\":1,\t\n\r \"A\":1}", "{\"a\":1,\f\"A\":1}",
		`{"İ":1,"i":1}`, `{"ẞ":1,"ß":1}`, `{"Σ":1,"σ":1,"ς":1}`, `{"ǅ":1,"ǆ":1}`, `{"K":1,"k":1}`,
		`{"a":1e999,"A":1}`, `{"a":-0.0e-0,"A":1}`, `{"a":tru,"A":1}`, `{"a":"\ud800","A":1}`,
		nested(`[`, `]`, 32, `x`), nested(`[`, `]`, 33, `x`), nested(`[`, ``, 33, ``), nested(`[`, ``, 32, `,[`),
		nested(`{"a":`, `}`, 32, `{`), nested(`{"a":`, `}`, 33, ``), `[` + nested(`[`, `]`, 31, ``) + `,` + nested(`[`, `]`, 31, ``) + `]`,
		`{"s":"` + strings.Repeat("\xff", maxStringLen/3) + `"}`, `{"s":"` + strings.Repeat("\xff", maxStringLen/3+1) + `"}`,
		`{"s":"` + strings.Repeat(`\ud800`, maxStringLen/3+1) + `"}`, `{"s":"` + strings.Repeat(`\u00e9`, maxStringLen/2+1) + `"}`,
		`{"` + strings.Repeat("\xff", 86) + `":1}`, `{"` + strings.Repeat("\xff", 85) + `":1}`, `{"` + strings.Repeat("\xff", 85) + `x":1,"A":1}`,
	} {
		shapeAgrees(t, []byte(s))
	}
	// Objects large enough that their keys go in a map.
	var many []string
	for i := range 3 * shapeLinearKeys {
		many = append(many, `"k`+strconv.Itoa(i)+`":{"k0":1,"x":[{"k1":2}]}`)
	}
	for _, n := range []int{shapeLinearKeys - 1, shapeLinearKeys, shapeLinearKeys + 1, shapeLinearKeys + 2, 3 * shapeLinearKeys} {
		body := "{" + strings.Join(many[:n], ",")
		for _, s := range []string{"}", `,"K0":1}`, `,"k1":1}`, `,"K` + strconv.Itoa(n-1) + `":1}`, `,"K` + strconv.Itoa(n-1) + `":1}`,
			`,"x":{` + strings.Join(many[:n], ",") + `},"k` + strconv.Itoa(n) + `":1,"k` + strconv.Itoa(n) + `":1}`} {
			shapeAgrees(t, []byte(body+s))
		}
	}
}

// shapeGen writes random JSON meant to reach every rule of checkShape: keys
// that collide in case or through escapes, nesting around maxDepth, and
// strings and keys around their limits, written plainly or with escapes.
type shapeGen struct {
	r   *rand.Rand
	buf []byte
}

var shapeKeys = []string{
	"a", "A", `\u0041`, `\u0061`, "b", "B", "name", "Name", "NAME", `n\u0061me`, `N\u0041ME`, "k", "K", `\u212a`, "\u212a",
	"i", "I", "\u0130", `\u0130`, "é", "É", `\u00e9`, `\u00C9`, "ß", "ẞ", `\ud800`, `\udc00`, "\ufffd", `\ufffd`, "\xff", "\xfe",
	`\ud83d\ude00`, "😀", `\"`, `\u0022`, `\\`, `\/`, "/", "", " ", `\u0000`, `\t`, "\t", "Σ", "σ", "ς",
}

func (g *shapeGen) space() {
	for g.r.IntN(4) == 0 {
		g.buf = append(g.buf, " \t\r\n"[g.r.IntN(4)])
	}
}

// str writes a string of about n bytes once decoded, in pieces plain,
// escaped or not UTF-8.
func (g *shapeGen) str(n int) {
	g.buf = append(g.buf, '"')
	pieces := []string{"x", "Q", "é", `\n`, `\"`, `\\`, `\u00e9`, `\u0041`, `\ud800`, `\ud83d\ude00`, "\xff", "😀"}
	if g.r.IntN(3) == 0 {
		pieces = pieces[:2] // plain ASCII, the common case
	}
	for n > 0 {
		if n > 64 && g.r.IntN(2) == 0 {
			run := g.r.IntN(n)
			g.buf = append(g.buf, strings.Repeat("y", run)...)
			n -= run
			continue
		}
		p := pieces[g.r.IntN(len(pieces))]
		g.buf = append(g.buf, p...)
		var s string
		json.Unmarshal([]byte(`"`+p+`"`), &s)
		n -= len(s)
	}
	g.buf = append(g.buf, '"')
}

func (g *shapeGen) key() {
	switch g.r.IntN(400) {
	case 0, 1, 2, 3, 4, 5, 6, 7, 8, 9:
		g.str(maxKeyLen - 2 + g.r.IntN(5))
	case 10:
		g.str(maxStringLen - 2 + g.r.IntN(5))
	default:
		g.buf = append(g.buf, '"')
		pool := shapeKeys
		if g.r.IntN(2) == 0 {
			pool = pool[:10] // the spellings of a and name, which collide often
		}
		for range 1 + g.r.IntN(2) {
			g.buf = append(g.buf, pool[g.r.IntN(len(pool))]...)
		}
		g.buf = append(g.buf, '"')
	}
}

// open writes n nested containers, arrays and objects (with a key) at
// random, and returns what closes them, innermost last.
func (g *shapeGen) open(n int) (closers []byte) {
	for range n {
		if g.r.IntN(2) == 0 {
			g.buf = append(g.buf, '[')
			closers = append(closers, ']')
		} else {
			g.buf = append(g.buf, '{')
			g.key()
			g.buf = append(g.buf, ':')
			closers = append(closers, '}')
		}
	}
	return closers
}

func (g *shapeGen) value(depth int) {
	g.space()
	if depth < 40 && g.r.IntN(30) == 0 {
		// A chain down to around the depth limit.
		n := maxDepth - 2 - depth + g.r.IntN(5)
		closers := g.open(n)
		g.value(depth + n)
		for i := len(closers) - 1; i >= 0; i-- {
			g.buf = append(g.buf, closers[i])
		}
		return
	}
	// Few containers, and few members in each, so that a document stays
	// small: the chains above give the depth.
	switch k := g.r.IntN(10); {
	case k < 2 && depth < 36 && g.r.IntN(20) == 0:
		// An object large enough that its keys go in a map, and
		// perhaps with one key repeated, in some other case.
		n := 20 + g.r.IntN(40)
		again := g.r.IntN(2 * n)
		g.buf = append(g.buf, '{')
		for i := range n {
			if i > 0 {
				g.buf = append(g.buf, ',')
			}
			name := "f" + strconv.Itoa(i)
			if i == again {
				name = "F" + strconv.Itoa(g.r.IntN(i+1))
			}
			g.buf = strconv.AppendQuote(g.buf, name)
			g.buf = append(g.buf, ':')
			g.value(depth + 1)
		}
		g.buf = append(g.buf, '}')
	case k < 2 && depth < 36:
		g.buf = append(g.buf, '{')
		for i := range g.r.IntN(4) {
			if i > 0 {
				g.buf = append(g.buf, ',')
			}
			g.space()
			g.key()
			g.space()
			g.buf = append(g.buf, ':')
			g.value(depth + 1)
			g.space()
		}
		g.buf = append(g.buf, '}')
	case k < 3 && depth < 36:
		g.buf = append(g.buf, '[')
		for i := range g.r.IntN(3) {
			if i > 0 {
				g.buf = append(g.buf, ',')
			}
			g.value(depth + 1)
		}
		g.space()
		g.buf = append(g.buf, ']')
	case k < 7:
		if g.r.IntN(150) == 0 {
			g.str(maxStringLen - 3 + g.r.IntN(6))
		} else {
			g.str(g.r.IntN(12))
		}
	case k < 9:
		nums := []string{"0", "-0", "1", "-12", "19.99", "1e5", "1E+2", "2.5e-3", "1e999", "123456789012345678901234567890"}
		g.buf = append(g.buf, nums[g.r.IntN(len(nums))]...)
	default:
		g.buf = append(g.buf, []string{"true", "false", "null"}[g.r.IntN(3)]...)
	}
}

// doc writes one JSON text, with its containers closed properly.
func (g *shapeGen) doc() []byte {
	g.buf = g.buf[:0]
	g.value(0)
	return g.buf
}

// TestShapeMatchesReference runs the scanner and the reference on random
// JSON and on random damage to it, and requires the same answer.
func TestShapeMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	g := &shapeGen{r: r}
	alphabet := []byte(`{}[]":,.-+0123456789eEtrufalsn\ u/aAkK` + "\xc3\xa9\xff\x00\t\n")
	msgs := map[string]int{}
	for n := range 10_000 {
		var b []byte
		if n%4 == 0 {
			// Nesting around the limit, the kind of the innermost
			// container and what surrounds it chosen at random.
			g.buf = g.buf[:0]
			d := maxDepth - 2 + r.IntN(4)
			closers := g.open(d)
			g.value(d)
			for i := len(closers) - 1; i >= 0; i-- {
				g.buf = append(g.buf, closers[i])
			}
			b = bytes.Clone(g.buf)
		} else {
			b = bytes.Clone(g.doc())
		}
		if r.IntN(8) == 0 {
			g.buf = g.buf[:0]
			b = append(b, ' ')
			b = append(b, g.doc()...)
		}
		msgs[shapeAgrees(t, b)]++
		for range 3 {
			m := bytes.Clone(b)
			for range 1 + r.IntN(3) {
				if len(m) == 0 {
					break
				}
				switch i := r.IntN(len(m)); r.IntN(4) {
				case 0:
					m[i] = alphabet[r.IntN(len(alphabet))]
				case 1:
					m = append(m[:i:i], m[i+1:]...)
				case 2:
					m = append(m[:i:i], append([]byte{alphabet[r.IntN(len(alphabet))]}, m[i:]...)...)
				case 3:
					m = m[:i]
				}
			}
			msgs[shapeAgrees(t, m)]++
		}
	}
	// The inputs must reach every rule, and often.
	for _, want := range []string{"", "appears twice", "nested deeper", "a string is longer", "a key is longer"} {
		n := 0
		for msg, k := range msgs {
			if want == "" && msg == "" || want != "" && strings.Contains(msg, want) {
				n += k
			}
		}
		t.Logf("%6d %q", n, want)
		if n < 100 {
			t.Errorf("only %d answers were %q", n, want)
		}
	}
}

func FuzzCheckShape(f *testing.F) {
	f.Add([]byte(`{"name":"p-123","price":19.99,"sku":"SKU-123","stock":5,"tags":["a","b"]}`))
	f.Add([]byte(`{"a":1,"b":{"A":[1,{"x":null}]},"\u0041":true}`))
	f.Add([]byte(`{"k":"\ud83d\ude00","\u212a":1}`))
	f.Add([]byte(nested(`[{"a":`, `}]`, 16, `1`)))
	f.Add([]byte(`{"a":1} {"a":1,"A":2}`))
	f.Add([]byte("{\"\xff\":1,\"\\ufffd\":1}"))
	f.Fuzz(func(t *testing.T, b []byte) { shapeAgrees(t, b) })
}

func BenchmarkCheckShape(b *testing.B) {
	body := []byte(`{"name":"p-123","price":19.99,"sku":"SKU-123","stock":5,"tags":["a","b"]}`)
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			checkShape(body)
		}
	})
	b.Run("token", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			checkShapeReference(body)
		}
	})
}
