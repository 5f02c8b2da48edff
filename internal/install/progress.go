package install

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress receives what an install is doing.
type Progress interface {
	// Begin says that a step of the plugin's install began.
	Begin(plugin, step string)
	// Transfer says how many bytes of a download arrived; total is -1 when
	// unknown.
	Transfer(plugin string, done, total int64)
	// End says that the plugin's install ended, with err nil on success.
	End(plugin string, err error)
}

// NoProgress reports nothing.
func NoProgress() Progress { return noProgress{} }

type noProgress struct{}

func (noProgress) Begin(string, string)          {}
func (noProgress) Transfer(string, int64, int64) {}
func (noProgress) End(string, error)             {}

// NewProgress reports to w: on a terminal, one line redrawn in place with a
// progress bar for downloads; otherwise plain lines, one per step and one per
// quarter of a download.
func NewProgress(w io.Writer, terminal bool) Progress {
	if terminal {
		return &barProgress{w: w}
	}
	return &lineProgress{w: w, quarter: map[string]int64{}}
}

type lineProgress struct {
	mu      sync.Mutex
	w       io.Writer
	quarter map[string]int64
}

func (p *lineProgress) Begin(plugin, step string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s: %s\n", plugin, step)
	p.quarter[plugin] = 0
}

func (p *lineProgress) Transfer(plugin string, done, total int64) {
	if total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	q := done * 4 / total
	if q > p.quarter[plugin] {
		p.quarter[plugin] = q
		fmt.Fprintf(p.w, "%s: %d%% of %s\n", plugin, q*25, size(total))
	}
}

func (p *lineProgress) End(string, error) {}

type barProgress struct {
	mu   sync.Mutex
	w    io.Writer
	last time.Time
	open bool
}

func (p *barProgress) draw(s string) {
	fmt.Fprintf(p.w, "\r\x1b[K%s", s)
	p.open = true
}

func (p *barProgress) Begin(plugin, step string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(plugin + ": " + step)
}

func (p *barProgress) Transfer(plugin string, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) < 100*time.Millisecond && done != total {
		return
	} else {
		p.last = now
	}
	if total <= 0 {
		p.draw(fmt.Sprintf("%s: downloading %s", plugin, size(done)))
		return
	}
	const width = 30
	filled := int(done * width / total)
	p.draw(fmt.Sprintf("%s: [%s%s] %3d%% %s/%s", plugin, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done*100/total, size(done), size(total)))
}

func (p *barProgress) End(string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.open = false
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	name  string
	p     Progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.done += int64(n)
	r.p.Transfer(r.name, r.done, r.total)
	return n, err
}
