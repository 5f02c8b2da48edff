package install_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/seedmicro/micro/internal/install"
	"github.com/seedmicro/micro/internal/testkit"
)

// Issue 13 item 4: on a terminal, the go build step shows a spinner and its
// elapsed time, a download a bar; every line fits the terminal's width (and
// 80 columns), and nothing is left on the line at the end. Before, the
// build was one silent line, and the bar was 30 columns plus the name and
// sizes whatever the width.
func TestProgressFitsTheTerminal(t *testing.T) {
	for _, width := range []int{30, 40, 60, 80, 200} {
		t.Run(itoa(width), func(t *testing.T) {
			var buf testkit.Buffer
			p := install.NewProgress(&buf, true, install.WithWidth(func() int { return width }), install.WithInterval(5*time.Millisecond))
			name := "broker/rabbitmq"
			p.Begin(name, "building github.com/seedmicro/micro/plugins/registry/redis/cmd/micro-plugin-registry-redis")
			time.Sleep(60 * time.Millisecond)
			p.Begin(name, "fetching https://example.com/releases/download/v1.0.0/plugin.tar.gz")
			for done := int64(0); done <= 5<<20; done += 1 << 20 {
				p.Transfer(name, done, 5<<20)
				time.Sleep(110 * time.Millisecond)
			}
			p.End(name, nil)
			out := buf.String()
			if strings.Contains(out, "\n") {
				t.Errorf("a newline on the terminal: %q", out)
			}
			if !strings.HasSuffix(out, "\r\x1b[K") {
				t.Errorf("the line is not cleared at the end: %q", out[max(0, len(out)-80):])
			}
			limit := min(width, 80) - 1
			spins, bars := 0, 0
			for _, seg := range strings.Split(out, "\r") {
				seg = strings.TrimPrefix(seg, "\x1b[K")
				if strings.Contains(seg, "\x1b") {
					t.Errorf("an escape other than clear-line: %q", seg)
				}
				if n := utf8.RuneCountInString(seg); n > limit {
					t.Errorf("a line of %d columns on a terminal of %d: %q", n, width, seg)
				}
				if len(seg) > 8 && strings.ContainsAny(seg[:1], `|/-\`) && strings.Contains(seg[:9], "s") {
					spins++ // "| 0.1s  broker/rabbitmq: building ..."
				}
				if strings.Contains(seg, "[") && strings.Contains(seg, "%") || strings.Contains(seg, "100%") {
					bars++
				}
			}
			if spins < 3 {
				t.Errorf("%d spinner frames with the elapsed time during the build, want several:\n%q", spins, out)
			}
			if bars < 3 && width >= 50 {
				t.Errorf("%d download bars, want one per 100ms:\n%q", bars, out)
			}
			if width >= 60 && !strings.Contains(out, "] 100% 5.0 MiB/5.0 MiB") {
				t.Errorf("no full bar at width %d:\n%q", width, out)
			}
		})
	}
}

// Issue 13 item 4: when stderr is not a terminal, progress is plain lines:
// one per step, one every interval while a step runs, with its elapsed
// time, and quarters of a download; no escapes, no carriage returns.
func TestProgressLinesWhenNotATerminal(t *testing.T) {
	var buf testkit.Buffer
	p := install.NewProgress(&buf, false, install.WithInterval(20*time.Millisecond))
	p.Begin("broker/redis", "building github.com/seedmicro/micro/plugins/broker/redis/cmd/micro-plugin-broker-redis")
	time.Sleep(110 * time.Millisecond)
	p.Begin("broker/redis", "fetching file:///x")
	for done := int64(0); done <= 100; done += 10 {
		p.Transfer("broker/redis", done, 100)
	}
	p.End("broker/redis", nil)
	out := buf.String()
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("terminal control in plain output: %q", out)
	}
	if n := strings.Count(out, "broker/redis: building github.com/seedmicro/micro/plugins/broker/redis/cmd/micro-plugin-broker-redis, still running ("); n < 2 {
		t.Errorf("%d periodic lines during the build, want several:\n%s", n, out)
	}
	for _, want := range []string{"25% of 100 B\n", "50% of 100 B\n", "75% of 100 B\n", "100% of 100 B\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q line:\n%s", want, out)
		}
	}
	before := buf.String()
	time.Sleep(60 * time.Millisecond)
	if buf.String() != before {
		t.Error("progress lines after End")
	}
}

func itoa(n int) string {
	var b []byte
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
