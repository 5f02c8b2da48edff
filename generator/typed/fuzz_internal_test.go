package typed

import (
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"strconv"
	"strings"
	"testing"
)

// FuzzDirective feeds the //micro:subscribe parser arbitrary comment text,
// as found in a user's source: it returns a topic or an error, never
// panics, and a topic it returns is a valid Go expression of a non-empty
// string.
func FuzzDirective(f *testing.F) {
	for _, s := range []string{"//micro:subscribe TopicA", `//micro:subscribe "a.b"`, "//micro:subscribe a.b", "//micro:subscribe", "//micro:subscribe `x`", `//micro:subscribe "`, "//micro:subscribex y", "//micro:subscribe a b"} {
		f.Add(s)
	}
	pkg := types.NewPackage("example.com/p", "p")
	pkg.Scope().Insert(types.NewConst(token.NoPos, pkg, "TopicA", types.Typ[types.UntypedString], constant.MakeString("a")))
	pkg.Scope().Insert(types.NewConst(token.NoPos, pkg, "N", types.Typ[types.UntypedInt], constant.MakeInt64(1)))
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\n\r") {
			return
		}
		doc := &ast.CommentGroup{List: []*ast.Comment{{Text: line}}}
		arg, ok := directiveArg(doc, directiveSubscribe)
		if !ok {
			return
		}
		m := &model{q: newQualifier(pkg, "pclient")}
		expr, value, err := m.topicOf(pkg, arg)
		if err != nil {
			return
		}
		if value == "" {
			t.Fatalf("%q: empty topic", line)
		}
		if strings.HasSuffix(expr, ".TopicA") && value == "a" {
			return
		}
		if v, err := strconv.Unquote(expr); err != nil || v != value {
			t.Fatalf("%q: expression %s does not spell %q", line, expr, value)
		}
	})
}
