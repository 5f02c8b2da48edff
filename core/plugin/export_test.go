package plugin

import (
	"net"

	"github.com/seedmicro/micro/core/broker"
	"github.com/seedmicro/micro/core/plugin/internal/hostlink"
	"github.com/seedmicro/micro/core/plugin/internal/mtls"
)

// PID returns the pid of the plugin process of the moment, 0 while it
// restarts.
func PID(c *Client) int { return c.conn.Load().pid }

// Addr returns the address of the plugin process of the moment.
func Addr(c *Client) net.Addr { return c.conn.Load().addr }

// LaunchMaterial returns the TLS material a host writes on a host link.
func LaunchMaterial() ([]byte, error) {
	_, m, err := mtls.NewLaunch()
	return m, err
}

// EnvHostLink is the variable that gives a plugin its host link.
const EnvHostLink = hostlink.EnvHostLink

// DataLink says whether c's plugin process serves the data link, and
// whether Publish took it.
func DataLink(c *Client) (served, used bool) {
	d := c.conn.Load().data
	return d != nil, d != nil && d.taken.Load()
}

// SubscriptionLink returns the data-link key of sub's stream (0: its
// deliveries come on the stream).
func SubscriptionLink(sub broker.Subscription) uint64 {
	s := sub.(*subscription)
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.link
}
