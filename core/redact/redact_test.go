package redact_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/seedmicro/micro/core/redact"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"redis://default:s3cret@localhost:6379/0", "redis://default:xxxxx@localhost:6379/0"},
		{"amqp://guest:guest@localhost:5672/", "amqp://guest:xxxxx@localhost:5672/"},
		{"redis://default:My%Secret@host:6379", "redis://default:xxxxx@host:6379"},
		{"redis://user:pa/ss@word@host/db?x=1", "redis://user:xxxxx@host/db?x=1"},
		{"nats://host:4222?token=abc&name=x", "nats://host:4222?token=xxxxx&name=x"},
		{"postgres://u@host/db?password=p1&sslmode=off", "postgres://u@host/db?password=xxxxx&sslmode=off"},
		{"nats://a:b@h1:4222,nats://c:d@h2:4222", "nats://a:xxxxx@h1:4222,nats://c:xxxxx@h2:4222"},
		{"localhost:6379", "localhost:6379"},
		{"redis://localhost:6379", "redis://localhost:6379"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := redact.URL(tt.in); got != tt.want {
				t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestErrorHidesPasswordOfUnparsableURL(t *testing.T) {
	raw := "redis://default:My%Secret@localhost:6379"
	_, perr := url.Parse(raw)
	if perr == nil {
		t.Fatal("url.Parse accepted a bad escape")
	}
	base := fmt.Errorf("invalid Config.URL: %w", perr)
	err := redact.Error(base, raw)
	for _, leak := range []string{"My%Secret", "Secret", "%Se"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("message %q leaks %q", err, leak)
		}
	}
	if !strings.Contains(err.Error(), "localhost:6379") {
		t.Errorf("message %q lost the host", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Error("redacted error does not unwrap to *url.Error")
	}
	if redact.Error(nil, raw) != nil {
		t.Error("Error(nil) != nil")
	}
}

func TestSettings(t *testing.T) {
	in := `{"url":"amqp://u:pw@h/","password":"p","Token":"t","nested":{"api_key":"k","n":3},"prefetch":16}`
	out := string(redact.Settings([]byte(in)))
	for _, leak := range []string{`:pw@`, `"p"`, `"t"`, `"k"`} {
		if strings.Contains(out, leak) {
			t.Errorf("Settings = %s, leaks %s", out, leak)
		}
	}
	if !strings.Contains(out, `"prefetch":16`) || !strings.Contains(out, `amqp://u:xxxxx@h/`) {
		t.Errorf("Settings = %s, lost non-secret data", out)
	}
	if got := string(redact.Settings([]byte(`not json redis://a:b@c`))); strings.Contains(got, ":b@") {
		t.Errorf("Settings on non-JSON = %s", got)
	}
}

func TestText(t *testing.T) {
	got := redact.Text(`dial "redis://x:topsecret@h:1": refused`)
	if strings.Contains(got, "topsecret") {
		t.Errorf("Text = %q", got)
	}
}

func FuzzURL(f *testing.F) {
	f.Add("redis://default:My%Secret@localhost:6379")
	f.Add("amqp://a:b@c/d?password=e")
	f.Fuzz(func(t *testing.T, s string) {
		pw := ""
		if i := strings.Index(s, "://"); i >= 0 {
			auth := s[i+3:]
			if at := strings.LastIndex(auth, "@"); at >= 0 {
				if c := strings.Index(auth[:at], ":"); c >= 0 {
					pw = auth[c+1 : at]
				}
			}
		}
		out := redact.URL(s)
		if len(pw) >= 3 && !strings.Contains(pw, ",") && !strings.ContainsAny(pw, "/?#") && strings.Contains(out, ":"+pw+"@") {
			t.Errorf("URL(%q) = %q keeps the password", s, out)
		}
	})
}

func ExampleURL() {
	fmt.Println(redact.URL("amqp://guest:guest@localhost:5672/"))
	// Output: amqp://guest:xxxxx@localhost:5672/
}
