package plugin

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/seedmicro/micro/core/plugin/internal/hostlink"
)

// Intervals of watchHost.
const (
	parentPollInterval = 500 * time.Millisecond
	// orphanShutdown bounds the closing of the implementation once the
	// host is gone: the plugin exits within it.
	orphanShutdown = 2 * time.Second
)

// watchHost exits the process when the host is gone: when the host link
// ends (link may be nil), or when the parent process changes (the plugin was
// reparented, to init or to a subreaper). On Linux the host also asks the
// kernel to kill the plugin when it dies (internal/spawn); this watch is for
// every other way. Before exiting, it closes the implementation, for up to
// orphanShutdown.
func watchHost(link *hostlink.Plugin, srv *server) {
	gone := make(chan string, 2)
	if link != nil {
		go func() {
			if d := srv.data.Load(); d == nil {
				if _, err := io.Copy(io.Discard, link.Rest); err != nil {
					slog.Error("plugin host link", "error", err)
				}
			} else if err := serveData(d, link.Rest, srv); err != nil {
				slog.Error("plugin data link", "error", err)
			}
			gone <- "the host link closed"
		}()
	}
	go func() {
		// A parent of 1 from the start is a host that is the init of
		// its container, not a host that is gone.
		ppid := os.Getppid()
		t := time.NewTicker(parentPollInterval)
		defer t.Stop()
		for range t.C {
			if p := os.Getppid(); p != ppid {
				gone <- fmt.Sprintf("the parent process changed from %d to %d", ppid, p)
				return
			}
		}
	}()
	reason := <-gone
	slog.Warn("the host is gone; the plugin exits", "reason", reason)
	exitAfterShutdown(srv, 3)
}
