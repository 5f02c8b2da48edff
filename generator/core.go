package generator

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// EnvCore names the environment variable with the directory of a core
// checkout: a generated go.mod replaces the core with it.
const EnvCore = "MICRO_NEW_CORE"

// DevelVersion is the core version a go.mod requires when the core comes
// from a checkout (a replace directive).
const DevelVersion = "v0.0.0-00010101000000-000000000000"

// CoreSource says which core a generated project uses: the version
// micro-new was built from (debug.ReadBuildInfo) when it is a released
// version; else DevelVersion replaced by a checkout: $MICRO_NEW_CORE when
// set, else the checkout this package was compiled from.
func CoreSource(getenv func(string) string) (version, replace string) {
	if dir := getenv(EnvCore); dir != "" {
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		return DevelVersion, dir
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := ""
		if bi.Main.Path == CoreModule {
			v = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == CoreModule && d.Replace == nil {
				v = d.Version
			}
		}
		if v != "" && v != "(devel)" && module.Check(CoreModule, v) == nil && !isDirty(v) {
			return v, ""
		}
	}
	return DevelVersion, checkoutDir()
}

func isDirty(v string) bool { return len(v) > 6 && v[len(v)-6:] == "+dirty" }

// checkoutDir is the root of the checkout this file was compiled from, if
// it is still there (a build with -trimpath records no directory).
func checkoutDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	root := filepath.Dir(filepath.Dir(file))
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || modfile.ModulePath(data) != CoreModule {
		return ""
	}
	return root
}
