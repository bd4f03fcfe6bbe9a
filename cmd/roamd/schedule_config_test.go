package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestLoadSettings_ScheduleMinAhead: schedule_min_ahead sets the shortest
// time ahead a scheduled message may be set for (the simulator lowers it);
// the default stays 10 s and the node's validation refuses under 1 s.
func TestLoadSettings_ScheduleMinAhead(t *testing.T) {
	s, err := loadSettings([]string{"-config", writeFile(t, `{"data": "/d"}`)}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.node.VLR.Schedule.MinAhead; got != 10*time.Second {
		t.Fatalf("default MinAhead %v, want 10s", got)
	}
	s, err = loadSettings([]string{"-config", writeFile(t, `{"data": "/d", "schedule_min_ahead": "1500ms"}`)}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.node.VLR.Schedule.MinAhead; got != 1500*time.Millisecond {
		t.Fatalf("MinAhead %v, want 1.5s", got)
	}
	for _, bad := range []string{`"500ms"`, `"x"`} {
		_, err := loadSettings([]string{"-config", writeFile(t, `{"data": "/d", "schedule_min_ahead": `+bad+`}`)}, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "schedule_min_ahead") && !strings.Contains(err.Error(), "MinAhead") {
			t.Fatalf("schedule_min_ahead %s: error %v", bad, err)
		}
	}
}
