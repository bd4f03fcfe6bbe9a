package mgmt

import (
	"errors"
	"io"
	"net/http"
	"testing"
)

// drainSource is a fakeSource that records drains.
type drainSource struct {
	fakeSource
	drains, undrains int
	fail             error
}

func (d *drainSource) Drain() error   { d.drains++; return d.fail }
func (d *drainSource) Undrain() error { d.undrains++; return d.fail }

func adminDo(t *testing.T, method, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestDrain_AdminEndpoints: without a configured token the endpoints do
// not exist; with one, only POST with the right bearer token drains or
// undrains; a failure is a 409.
func TestDrain_AdminEndpoints(t *testing.T) {
	off, err := New(Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	src := &drainSource{}
	off.Attach(src)
	if code := adminDo(t, http.MethodPost, "http://"+off.Addr()+"/admin/drain", "x"); code != http.StatusNotFound {
		t.Fatalf("no token configured: %d, want 404", code)
	}

	const token = "0123456789abcdef"
	s, err := New(Config{Addr: "127.0.0.1:0", AdminToken: token})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()
	if code := adminDo(t, http.MethodPost, base+"/admin/drain", token); code != http.StatusServiceUnavailable {
		t.Fatalf("before attach: %d, want 503", code)
	}
	s.Attach(src)
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{http.MethodGet, "/admin/drain", token, http.StatusMethodNotAllowed},
		{http.MethodPost, "/admin/drain", "", http.StatusUnauthorized},
		{http.MethodPost, "/admin/drain", token + "x", http.StatusUnauthorized},
		{http.MethodPost, "/admin/other", token, http.StatusNotFound},
		{http.MethodPost, "/status", token, http.StatusMethodNotAllowed}, // the rest stays read-only
	} {
		if code := adminDo(t, c.method, base+c.path, c.token); code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, code, c.want)
		}
	}
	if src.drains != 0 || src.undrains != 0 {
		t.Fatalf("refused requests drained: %d %d", src.drains, src.undrains)
	}
	if code := adminDo(t, http.MethodPost, base+"/admin/drain", token); code != http.StatusOK || src.drains != 1 {
		t.Fatalf("drain: %d, drains %d", code, src.drains)
	}
	if code := adminDo(t, http.MethodPost, base+"/admin/undrain", token); code != http.StatusOK || src.undrains != 1 {
		t.Fatalf("undrain: %d, undrains %d", code, src.undrains)
	}
	src.fail = errors.New("shutting down")
	if code := adminDo(t, http.MethodPost, base+"/admin/drain", token); code != http.StatusConflict {
		t.Fatalf("failed drain: %d, want 409", code)
	}
}
