package main

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestLoadSettings_ConnectionHygiene: the client port's caps, deadlines,
// output budget and PROXY protocol settings come from the config file.
func TestLoadSettings_ConnectionHygiene(t *testing.T) {
	file := writeFile(t, `{"data": "/d", "max_prelogin_per_ip": 8, "max_conns": 5000, "max_conns_per_ip": 100,
		"login_deadline": "15s", "frame_timeout": "3s", "output_budget": 67108864,
		"proxy_protocol": true, "trusted_proxies": "10.0.0.0/8, 192.0.2.7, 2001:db8::/32"}`)
	s, err := loadSettings([]string{"-config", file}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	v := s.node.VLR
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if v.MaxPreLoginPerIP != 8 || v.MaxConns != 5000 || v.MaxConnsPerIP != 100 || v.LoginDeadline != 15*time.Second ||
		v.FrameTimeout != 3*time.Second || v.OutputBudget != 64<<20 || !v.ProxyProtocol || len(v.TrustedProxies) != 3 {
		t.Fatalf("settings: %+v", v)
	}
	for i, p := range want {
		if v.TrustedProxies[i] != p {
			t.Fatalf("trusted_proxies[%d] = %v, want %v", i, v.TrustedProxies[i], p)
		}
	}
	for _, c := range []struct{ file, want string }{
		{`{"data": "/d", "proxy_protocol": true}`, "ProxyProtocol needs TrustedProxies"},
		{`{"data": "/d", "trusted_proxies": "10.0.0.1"}`, "ProxyProtocol is off"},
		{`{"data": "/d", "proxy_protocol": true, "trusted_proxies": "lb.example"}`, "not an address or a CIDR prefix"},
		{`{"data": "/d", "output_budget": 1024}`, "OutputBudget"},
		{`{"data": "/d", "max_prelogin_per_ip": 0}`, "MaxPreLoginPerIP"},
		{`{"data": "/d", "login_deadline": "0s"}`, "timeouts must be positive"},
	} {
		_, err := loadSettings([]string{"-config", writeFile(t, c.file)}, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: error %v, want one containing %q", c.file, err, c.want)
		}
	}
}
