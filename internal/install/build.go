package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/seedmicro/micro/internal/catalog"
)

// buildEnv is the environment of a plugin build: reproducible (no cgo, no
// workspace) so that the same source gives the same sha256 on every machine
// with the same Go toolchain.
func (in *Installer) buildEnv(extra ...string) []string {
	env := make([]string, 0, len(in.env)+4)
	for _, kv := range in.env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "CGO_ENABLED", "GOWORK", "GOBIN", "GOOS", "GOARCH":
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "CGO_ENABLED=0", "GOWORK=off"), extra...)
}

var buildFlags = []string{"-trimpath", "-buildvcs=false"}

// goBuild runs `go build` of pkg in dir, writing the binary to out.
func (in *Installer) goBuild(ctx context.Context, dir, pkg, out string) error {
	args := append(append([]string{"build"}, buildFlags...), "-o", out, pkg)
	return in.runGo(ctx, dir, in.buildEnv(), args)
}

// goInstall builds pkg at the module version of src, through the module cache
// and proxy that go uses, as `go install package@version` does, and moves the
// binary to out.
func (in *Installer) goInstall(ctx context.Context, src *catalog.Source, staging, out string) error {
	gobin := filepath.Join(staging, "gobin")
	if err := os.Mkdir(gobin, 0o700); err != nil {
		return err
	}
	args := append(append([]string{"install"}, buildFlags...), src.Package+"@"+src.ModuleVersion())
	if err := in.runGo(ctx, staging, in.buildEnv("GOBIN="+gobin), args); err != nil {
		return err
	}
	name := filepath.Base(src.Package)
	if _, err := os.Stat(filepath.Join(gobin, name+".exe")); err == nil {
		name += ".exe"
	}
	return os.Rename(filepath.Join(gobin, name), out)
}

func (in *Installer) runGo(ctx context.Context, dir string, env, args []string) error {
	goCmd, err := exec.LookPath(in.goCmd)
	if err != nil {
		return fmt.Errorf("building from source needs the Go toolchain, and %q is not found: install Go, or install a prebuilt artifact with --from", in.goCmd)
	}
	// The build runs in its own process group, killed as a group when ctx
	// ends (SIGINT, SIGTERM): go's compiler and linker children die with it,
	// and none writes into the plugin directory afterwards.
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	cmd.Env = env
	setProcessGroup(cmd)
	cmd.Cancel = func() error {
		killProcessGroup(cmd)
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("go %s: stopped: %w", args[0], context.Cause(ctx))
		}
		msg := strings.TrimSpace(out.String())
		if len(msg) > 4000 {
			msg = msg[:4000] + "\n..."
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return fmt.Errorf("go %s: %s", strings.Join(args, " "), msg)
		}
		return fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return nil
}

// FindSourceDir returns the root of the checkout of the micro module that
// contains dir (by `go env GOMOD`), or "" when dir is not inside one.
func FindSourceDir(ctx context.Context, goCmd, dir string) string {
	cmd := exec.CommandContext(ctx, goCmd, "env", "GOMOD")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return ""
	}
	data, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			if strings.Trim(f[1], `"`) == MicroModule {
				return filepath.Dir(gomod)
			}
			return ""
		}
	}
	return ""
}
