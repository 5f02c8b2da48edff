package main

import "github.com/seedmicro/micro/internal/install"

// pluginHandshake is the go-plugin handshake of micro's plugin host
// (core/plugin): its magic cookie and the protocol versions it speaks.
func pluginHandshake() install.Handshake {
	return install.Handshake{
		CookieKey:   "MICRO_PLUGIN",
		CookieValue: "0d7f3e1a9b5c4e2f8a6d1c3b7e9f0a2d",
		Protocols:   []int{1},
	}
}
