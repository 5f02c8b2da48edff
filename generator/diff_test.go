package generator_test

import (
	"strings"
	"testing"

	"github.com/seedmicro/micro/generator"
	"github.com/seedmicro/micro/templates"
)

func lines(s ...string) []byte { return []byte(strings.Join(s, "\n") + "\n") }

func TestMerge3(t *testing.T) {
	base := lines("a", "b", "c", "d", "e", "f", "g")
	tests := []struct {
		name         string
		ours, theirs []byte
		want         []byte
		ok           bool
	}{
		{"nobody changed", base, base, base, true},
		{"only ours", lines("a", "B", "c", "d", "e", "f", "g"), base, lines("a", "B", "c", "d", "e", "f", "g"), true},
		{"only theirs", base, lines("a", "b", "c", "d", "e", "F", "g"), lines("a", "b", "c", "d", "e", "F", "g"), true},
		{"apart", lines("a", "B", "c", "d", "e", "f", "g"), lines("a", "b", "c", "d", "e", "F", "g"), lines("a", "B", "c", "d", "e", "F", "g"), true},
		{"the same change", lines("a", "X", "c", "d", "e", "f", "g"), lines("a", "X", "c", "d", "e", "f", "g"), lines("a", "X", "c", "d", "e", "f", "g"), true},
		{"insertions apart", lines("0", "a", "b", "c", "d", "e", "f", "g"), lines("a", "b", "c", "d", "e", "f", "g", "h"), lines("0", "a", "b", "c", "d", "e", "f", "g", "h"), true},
		{"a deletion and an edit apart", lines("a", "c", "d", "e", "f", "g"), lines("a", "b", "c", "d", "e", "f", "G"), lines("a", "c", "d", "e", "f", "G"), true},
		{"conflict", lines("a", "b", "C1", "d", "e", "f", "g"), lines("a", "b", "C2", "d", "e", "f", "g"),
			lines("a", "b", "<<<<<<< yours", "C1", "=======", "C2", ">>>>>>> micro-new", "d", "e", "f", "g"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := generator.Merge3(base, tt.ours, tt.theirs)
			if ok != tt.ok || string(got) != string(tt.want) {
				t.Fatalf("Merge3 = (%v)\n%s\nwant (%v)\n%s", ok, got, tt.ok, tt.want)
			}
		})
	}
}

func TestUnifiedDiff(t *testing.T) {
	old := lines("1", "2", "3", "4", "5", "6", "7", "8", "9", "10")
	new := lines("1", "2", "3", "4", "five", "6", "7", "8", "9", "10")
	want := "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
	if got := generator.UnifiedDiff("f", old, new); got != want {
		t.Fatalf("UnifiedDiff:\n%s\nwant:\n%s", got, want)
	}
	if got := generator.UnifiedDiff("f", old, old); got != "" {
		t.Fatalf("UnifiedDiff of equal texts = %q, want empty", got)
	}
	if got := generator.UnifiedDiff("f", nil, lines("x")); got != "--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+x\n" {
		t.Fatalf("UnifiedDiff of a new file:\n%s", got)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"greeter", "order-history", "a1", "Greeter"} {
		if err := generator.CheckName("NAME", ok); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "type", "func", "foo bar", "../x", "{{", "1abc", "-x", "x-", "a_b", strings.Repeat("a", 300)} {
		if err := generator.CheckName("NAME", bad); err == nil {
			t.Errorf("CheckName(%q) = nil, want an error", bad)
		} else if !strings.Contains(err.Error(), "NAME") {
			t.Errorf("CheckName(%q) = %v, which does not name the argument", bad, err)
		}
	}
	if got := generator.Ident("order-history"); got != "OrderHistory" {
		t.Errorf("Ident = %q", got)
	}
	if got := generator.PackageName("Order-History"); got != "orderhistory" {
		t.Errorf("PackageName = %q", got)
	}
}

func TestFormatGoPrunesUnusedImports(t *testing.T) {
	src := "package p\n\nimport (\n\"os\"\n\"fmt\"\nx \"strings\"\n)\n\nfunc F() { fmt.Println() }\n"
	got, err := generator.FormatGo("p.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := "package p\n\nimport (\n\t\"fmt\"\n)\n\nfunc F() { fmt.Println() }\n"
	if string(got) != want {
		t.Fatalf("FormatGo:\n%s\nwant:\n%s", got, want)
	}
	if _, err := generator.FormatGo("p.go", []byte("package p\nfunc {")); err == nil {
		t.Fatal("FormatGo of invalid Go succeeded")
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":1,"generator":"v1","template":"builtin:service","answers":{"name":"g","module":"example.com/g","import_path":"example.com/g","plugins":"inproc","core_version":"v1.0.0","go_version":"1.26"},"files":{"main.go":{"sha256":"00","owner":"user"}}}`))
	f.Add([]byte(`{"format":1,"files":{"../x":{"sha256":"00","owner":"user"}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := generator.ParseManifest(data)
		if err != nil {
			return
		}
		for p, file := range m.Files {
			if strings.HasPrefix(p, "/") || strings.Contains("/"+p+"/", "/../") {
				t.Fatalf("accepted a path outside the project: %q", p)
			}
			if file.Owner != generator.OwnerGenerator && file.Owner != generator.OwnerUser {
				t.Fatalf("accepted owner %q", file.Owner)
			}
		}
	})
}

func TestBuiltinSetsValidate(t *testing.T) {
	for _, name := range templates.Names() {
		t.Run(name, func(t *testing.T) {
			fsys, err := templates.Set(name)
			if err != nil {
				t.Fatal(err)
			}
			set, err := generator.LoadSet(fsys)
			if err != nil {
				t.Fatal(err)
			}
			if err := generator.Validate(set, name); err != nil {
				t.Fatal(err)
			}
			if err := generator.Validate(set, map[string]string{"service": "plugin", "plugin": "service"}[name]); err == nil {
				t.Fatalf("the %s set validated as another kind", name)
			}
		})
	}
	if _, err := templates.Set("nope"); err == nil {
		t.Fatal("templates.Set(nope) succeeded")
	}
}
