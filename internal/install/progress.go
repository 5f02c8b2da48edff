package install

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
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

// ProgressOption configures NewProgress.
type ProgressOption interface{ apply(*progressConfig) }

type progressConfig struct {
	width    func() int
	interval time.Duration
}

type progressOptionFunc func(*progressConfig)

func (f progressOptionFunc) apply(c *progressConfig) { f(c) }

// WithWidth sets how the terminal's width in columns is learnt (default:
// 80). A line never takes more than the width, nor more than 80 columns,
// less one, so that it never wraps.
func WithWidth(f func() int) ProgressOption {
	return progressOptionFunc(func(c *progressConfig) { c.width = f })
}

// WithInterval sets how often a running step is redrawn on a terminal
// (default 100ms, the spinner's speed) or reported as a line elsewhere
// (default 10s).
func WithInterval(d time.Duration) ProgressOption {
	return progressOptionFunc(func(c *progressConfig) { c.interval = d })
}

// NewProgress reports to w. On a terminal: one line redrawn in place, with
// a spinner and the elapsed time of the running step (a go build takes
// 30-120 s the first time) and a bar for downloads, fitted to the width and
// cleared at the end. Otherwise: plain lines, one per step, one every
// interval while a step runs, with its elapsed time, and one per quarter of
// a download.
func NewProgress(w io.Writer, terminal bool, opts ...ProgressOption) Progress {
	cfg := progressConfig{width: func() int { return 80 }}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.interval <= 0 {
		cfg.interval = 10 * time.Second
		if terminal {
			cfg.interval = 100 * time.Millisecond
		}
	}
	p := &progress{w: w, terminal: terminal, cfg: cfg, quarter: map[string]int64{}}
	return p
}

// elapsed formats a step's running time: 3.2s, 47.0s, 1m05s.
func elapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

var spinner = []string{"|", "/", "-", "\\"}

type progress struct {
	w        io.Writer
	terminal bool
	cfg      progressConfig

	mu      sync.Mutex
	plugin  string
	step    string
	started time.Time
	frame   int
	drawn   bool // a line is on the terminal, to be cleared
	xfer    bool // the step is a download whose bar is shown
	last    time.Time
	quarter map[string]int64
	stop    chan struct{}
	stopped chan struct{}
}

func (p *progress) Begin(plugin, step string) {
	p.mu.Lock()
	p.plugin, p.step, p.started, p.xfer = plugin, step, time.Now(), false
	if p.terminal {
		p.draw(p.stepLine())
	} else {
		fmt.Fprintf(p.w, "%s: %s\n", plugin, step)
		p.quarter[plugin] = 0
	}
	start := p.stop == nil
	if start {
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
	}
	stop, stopped := p.stop, p.stopped
	p.mu.Unlock()
	if start {
		go p.tick(stop, stopped)
	}
}

// tick redraws the running step (terminal) or reports it (lines) until stop.
func (p *progress) tick(stop, stopped chan struct{}) {
	defer close(stopped)
	t := time.NewTicker(p.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		switch {
		case p.xfer:
		case p.terminal:
			p.frame++
			p.draw(p.stepLine())
		default:
			fmt.Fprintf(p.w, "%s: %s, still running (%s)\n", p.plugin, p.step, elapsed(time.Since(p.started)))
		}
		p.mu.Unlock()
	}
}

// cols is the width a line may take: the terminal's, at most 80, less one
// so that the cursor never wraps.
func (p *progress) cols() int {
	w := p.cfg.width()
	if w <= 0 || w > 80 {
		w = 80
	}
	return max(w-1, 10)
}

func (p *progress) stepLine() string {
	// The elapsed time comes first, so that cutting the line never hides it.
	return fmt.Sprintf("%s %6s  %s: %s", spinner[p.frame%len(spinner)], elapsed(time.Since(p.started)), p.plugin, p.step)
}

// draw replaces the terminal's line with s, cut to fit.
func (p *progress) draw(s string) {
	fmt.Fprintf(p.w, "\r\x1b[K%s", fit(s, p.cols()))
	p.drawn = true
}

// fit cuts s to n runes, ending with "…" when cut.
func fit(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func (p *progress) Transfer(plugin string, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.terminal {
		if total <= 0 {
			return
		}
		if q := done * 4 / total; q > p.quarter[plugin] {
			p.quarter[plugin] = q
			fmt.Fprintf(p.w, "%s: %d%% of %s\n", plugin, q*25, size(total))
		}
		return
	}
	p.xfer = true
	if now := time.Now(); now.Sub(p.last) < 100*time.Millisecond && done != total {
		return
	} else {
		p.last = now
	}
	if total <= 0 {
		p.draw(fmt.Sprintf("%s: downloading %s", plugin, size(done)))
		return
	}
	head := plugin + ": "
	// As wide at the end as at the start, so that the bar does not move.
	tail := fmt.Sprintf(" %3d%% %*s/%s", done*100/total, len(size(total)), size(done), size(total))
	width := p.cols() - utf8.RuneCountInString(head) - utf8.RuneCountInString(tail) - 2
	if width < 5 {
		p.draw(head + strings.TrimSpace(tail))
		return
	}
	width = min(width, 40)
	filled := int(done * int64(width) / total)
	p.draw(head + "[" + strings.Repeat("=", filled) + strings.Repeat(" ", width-filled) + "]" + tail)
}

func (p *progress) End(string, error) {
	p.mu.Lock()
	stop, stopped := p.stop, p.stopped
	p.stop, p.stopped = nil, nil
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
	p.mu.Lock()
	if p.drawn { // a tick drew after the clear
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
	p.mu.Unlock()
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
