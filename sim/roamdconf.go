package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// clusterSettings are the roamd config-file keys of spawned clusters: the
// per-user and per-address limits raised so that the simulated users (a
// few hundred devices on one address, each user sending up to hundreds
// of messages a second, many logins and resumes) are never throttled.
// Keys the given roamd does not know are left out (roamd refuses unknown
// keys), so the simulator runs against older and newer builds alike.
func clusterSettings(sendRate float64, schedMinAhead time.Duration) map[string]any {
	m := map[string]any{
		"send_rate": sendRate, "send_burst": int(sendRate),
		"register_rate": 1000, "register_burst": 1000,
		"max_conns_per_ip": 100000, "max_prelogin_per_ip": 100000,
		"login_failures": 100000, "resume_failures": 100000,
		"login_rate": 1000, "login_burst": 1000, "resume_rate": 1000, "resume_burst": 1000,
		"friend_rate": 1000, "friend_burst": 1000, "block_rate": 1000, "block_burst": 1000, "profile_rate": 1000, "profile_burst": 1000,
		"max_devices":     64,
		"group_send_rate": 1000, "group_send_burst": 1000, "group_op_rate": 1000, "group_op_burst": 1000,
	}
	if schedMinAhead > 0 {
		m["schedule_min_ahead"] = schedMinAhead.String() // scheduled messages a second or two ahead (schedule.go)
	}
	return m
}

// roamdConfig renders settings as a roamd JSON config file, keeping only
// the keys bin lists in its usage (roamd -h); it returns the keys it left
// out.
func roamdConfig(bin string, settings map[string]any) ([]byte, []string, error) {
	out, _ := exec.Command(bin, "-h").CombinedOutput() // -h exits 0; the text is on stderr
	known := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	inKeys := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Config file keys") {
			inKeys = true
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if inKeys {
			known[f[0]] = true
		} else if strings.HasPrefix(f[0], "-") {
			known[strings.ReplaceAll(strings.TrimPrefix(f[0], "-"), "-", "_")] = true
		}
	}
	keep := map[string]any{}
	var skipped []string
	for k, v := range settings {
		if known[k] {
			keep[k] = v
		} else {
			skipped = append(skipped, k)
		}
	}
	sort.Strings(skipped)
	b, err := json.Marshal(keep)
	return b, skipped, err
}
