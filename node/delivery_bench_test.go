package node_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/ring"
)

// BenchmarkDelivery_SendToOnlineDevice is the whole send path to an online
// device on another node than its partition leader, in a 3-node
// in-process cluster: 32 concurrent sends from one client, every message
// forwarded through the gate, pushed and acknowledged. It reports the CPU
// of the whole process per message and the commit-to-device latency.
// Run it at two commits to see what a change costs, e.g.:
//
//	go test -run XXX -bench BenchmarkDelivery_SendToOnlineDevice -benchtime 20000x -count 3 ./node
//
// It uses only the client library, so it runs unchanged on commits from
// before delivery acknowledgements and session leases.
func BenchmarkDelivery_SendToOnlineDevice(b *testing.B) {
	c := clustertest.New(b, 3, clustertest.Options{Configure: fastSends})
	cfg, ok := c.PartitionConfig(ring.PartitionOf("rcv", 8))
	if !ok {
		b.Fatal("no leader")
	}
	var leader int
	fmt.Sscanf(cfg.Leader, "node%d", &leader)
	at, from := (leader+1)%3, (leader+2)%3
	snd := benchClient(b, c, from, "snd", true)
	rcv := benchClient(b, c, at, "rcv", true)
	benchBefriend(b, snd, rcv)

	var got atomic.Int64
	lat := make([]time.Duration, 0, b.N)
	var latMu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range rcv.Events() {
			if e.Kind != client.EventMessage {
				continue
			}
			latMu.Lock()
			lat = append(lat, time.Since(e.Message.Sent))
			latMu.Unlock()
			if got.Add(1) == int64(b.N) {
				return
			}
		}
	}()
	body := []byte("a message of a typical length, about sixty bytes long....")
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0, t0 := benchCPU(b), time.Now()
	b.ResetTimer()
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := snd.Send(ctx, "rcv", body)
				cancel()
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("only %d of %d messages arrived", got.Load(), b.N)
	}
	b.StopTimer()
	wall, cpu := time.Since(t0), benchCPU(b)-cpu0
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/wall.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func benchClient(b *testing.B, c *clustertest.Cluster, i int, user string, register bool) *client.Client {
	cfg := client.DefaultConfig(c.ClientAddr(i))
	cfg.Device = user + "-dev"
	cfg.MaxSendAttempts = 50
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	if register {
		if err := cl.Register(ctx, user, "pw-"+user); err != nil {
			b.Fatal(err)
		}
	}
	if err := cl.Login(ctx, user, "pw-"+user); err != nil {
		b.Fatal(err)
	}
	return cl
}

func benchBefriend(b *testing.B, x, y *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.FriendRequest(ctx, y.User()); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err := y.FriendAccept(ctx, x.User()); err == nil {
			break
		} else if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		fs, err := x.Friends(ctx)
		if err == nil && len(fs.Friends) == 1 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("friendship not visible: %+v %v", fs, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func benchCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
