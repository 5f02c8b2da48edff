package main

import (
	"github.com/seedmicro/micro/core/plugin"
	"github.com/seedmicro/micro/internal/install"
)

// pluginHandshake is the go-plugin handshake of micro's plugin host
// (core/plugin): its magic cookie and the protocol version it speaks.
func pluginHandshake() install.Handshake {
	return install.Handshake{
		CookieKey:   plugin.MagicCookieKey,
		CookieValue: plugin.MagicCookieValue,
		Protocols:   []int{plugin.ProtocolVersion},
	}
}
