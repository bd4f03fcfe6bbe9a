package vlr

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"testing"
)

func TestConfigValidate_ConnectionHygiene(t *testing.T) {
	base := func() Config {
		c := DefaultConfig()
		c.NodeID, c.ClientAddr, c.FakeSaltSecret, c.TokenSecret = "n1", "127.0.0.1:0", make([]byte, 16), make([]byte, 16)
		return c
	}
	if c := base(); c.Validate() != nil {
		t.Fatalf("defaults: %v", c.Validate())
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"login deadline", func(c *Config) { c.LoginDeadline = 0 }, "timeouts"},
		{"pre-login frame too small", func(c *Config) { c.PreLoginMaxFrame = 1000 }, "PreLoginMaxFrame"},
		{"pre-login frame above MaxFrame", func(c *Config) { c.PreLoginMaxFrame = c.MaxFrame + 1 }, "PreLoginMaxFrame"},
		{"budget below one queue", func(c *Config) { c.OutputBudget = int64(c.OutQueueBytes) - 1 }, "OutputBudget"},
		{"negative MaxConns", func(c *Config) { c.MaxConns = -1 }, "MaxConns"},
		{"no pre-login connections", func(c *Config) { c.MaxPreLoginPerIP = 0 }, "MaxPreLoginPerIP"},
		{"TLS without a certificate", func(c *Config) { c.TLS = &tls.Config{} }, "certificate"},
		{"PROXY without trusted proxies", func(c *Config) { c.ProxyProtocol = true }, "TrustedProxies"},
		{"trusted proxies without PROXY", func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }, "ProxyProtocol"},
		{"invalid prefix", func(c *Config) { c.ProxyProtocol, c.TrustedProxies = true, []netip.Prefix{{}} }, "invalid prefix"},
	} {
		c := base()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.want)
		}
	}
	c := base()
	c.ProxyProtocol, c.TrustedProxies = true, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	for addr, want := range map[string]bool{"10.1.2.3": true, "::ffff:10.1.2.3": true, "11.0.0.1": false, "2001:db8::1": true, "2001:db9::1": false} {
		if got := c.trusted(netip.MustParseAddr(addr)); got != want {
			t.Errorf("trusted(%s) = %v", addr, got)
		}
	}
}

func TestDefaultMaxConns_LeavesRoomForTheNode(t *testing.T) {
	l := openFileLimit()
	got := DefaultMaxConns()
	if l <= 0 {
		if got != 100000 {
			t.Fatalf("unknown limit: %d", got)
		}
		return
	}
	if got >= l || got < l/4 || (l > 4*3048 && got != l-3048) {
		t.Fatalf("open-file limit %d: MaxConns %d", l, got)
	}
}
