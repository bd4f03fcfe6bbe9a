package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/roamhq/roam/client"
)

// Log in, send a message and print what arrives. (It needs a running
// node, so it is compiled but not run.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cfg := client.DefaultConfig("127.0.0.1:7400")
	cfg.Device = "laptop-1" // stable per device
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if err := c.Register(ctx, "alice", "correct horse"); err != nil && !errors.Is(err, client.ErrNameTaken) {
		log.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "correct horse"); err != nil {
		log.Fatal(err)
	}
	token := c.Token() // save it: Resume(ctx, "alice", token) continues the session later
	_ = token

	ack, err := c.Send(ctx, "bob", []byte("hello"))
	switch {
	case errors.Is(err, client.ErrRefused):
		fmt.Println("bob is not a friend yet")
	case errors.Is(err, client.ErrBusy):
		fmt.Println("busy, try later")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("delivered to bob's inbox at", ack.Seq)
	}

	for ev := range c.Events() {
		switch ev.Kind {
		case client.EventMessage:
			fmt.Printf("%s: %s\n", ev.Message.From, ev.Message.Body)
		case client.EventPresence:
			fmt.Printf("%s is %s\n", ev.User, ev.Status)
		case client.EventSessionEnded:
			fmt.Println("session ended:", ev.Err)
			return
		}
	}
}
