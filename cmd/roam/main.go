// Command roam is a scriptable command-line client for roam.
//
//	roam [--addr host:port,...] [--ca FILE] [--state FILE] [--device ID] [--json] COMMAND [ARGS]
//
// It speaks TLS to the nodes, verifying them against the system's roots
// or the CA given with --ca (ROAM_CA); --plaintext (ROAM_PLAINTEXT=1) is
// for servers without TLS.
//
// Run "roam help" for the commands. The session (user, device, token,
// inbox cursor) is kept in a state file, so that every command after
// "roam login" resumes it; exit status is 0 on success, 1 on errors
// ("roam: <code name> (<code>): <message>" on stderr) and 2 on usage
// errors.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// commands maps a command name to its implementation (one file per
// group: account.go, friends.go, messages.go).
var commands = map[string]func(*app, []string) error{
	"register":  cmdRegister,
	"login":     cmdLogin,
	"logout":    cmdLogout,
	"whoami":    cmdWhoami,
	"profile":   cmdProfile,
	"passwd":    cmdPasswd,
	"delete":    cmdDelete,
	"friend":    cmdFriend,
	"presence":  cmdPresence,
	"send":      cmdSend,
	"recv":      cmdRecv,
	"chat":      cmdChat,
	"group":     cmdGroup,     // group.go
	"scheduled": cmdScheduled, // scheduled.go
	"role":      cmdRole,      // role.go
	"scene":     cmdScene,     // scene.go
}

const usageText = `usage: roam [flags] COMMAND [ARGS]

Flags (before the command):
  --addr LIST        node addresses, comma-separated
                     (env ROAM_ADDR, else the saved ones, else 127.0.0.1:7400)
  --ca FILE          verify the nodes' TLS certificates against this CA (PEM)
                     (env ROAM_CA; default: the system's roots)
  --insecure         TLS without verifying the nodes' certificates (testing only)
  --plaintext        no TLS, for servers without it (env ROAM_PLAINTEXT=1)
  --state FILE       session file (env ROAM_STATE, else ~/.roam/session.json)
  --device ID        device id (default: generated once, kept in the state file)
  --json             machine-readable output: one JSON object per line
  --password-stdin   read passwords from stdin, one line each
                     (else env ROAM_PASSWORD / ROAM_NEW_PASSWORD, else a prompt)
  --timeout D        time limit of each request (default 10s)

Commands:
  register USER                       create an account (does not log in)
  login USER                          log in; the session is saved
  login --role NAME [--ns NS] USER    log in and pick a role (roam role help)
  logout                              end the session
  whoami                              show the session
  profile [USER]                      show your profile, or a friend's
  profile set [--name N] [--about A]  change your profile
  passwd                              change the password (old, then new)
  delete                              delete the account (asks for the password)
  friend request|accept|decline|remove|block|unblock USER
  friend list                         friends, requests and blocks
  presence                            your friends' status
  presence set online|away|busy|invisible
  send USER TEXT...                   send a message (TEXT from stdin if omitted)
  recv [--wait D]                     print new messages (and keep listening for D)
  chat USER                           interactive chat: type lines, /quit to leave
  group SUBCOMMAND NAME [USER|TEXT]   groups: roam group help
  send --at TIME|--in D USER TEXT...  schedule a message (also: group send --at|--in)
  scheduled list|get|cancel|edit|now  scheduled messages: roam scheduled help
  role create|rename|delete|list|pick  roles (the identity shown in scenes): roam role help
  scene join|move|say|act|watch|leave game scenes: roam scene help
  admin status --http ADDR[,ADDR...]  members, partitions and leaders from the
                                      nodes' management endpoints (roamd -http;
                                      env ROAM_HTTP); --json for JSON
  admin drain|undrain NODE            drain a node (lame duck) or end it; NODE is
                                      its -http address; the admin token from
                                      --token-file FILE or ROAM_ADMIN_TOKEN

Every command after login resumes the saved session and saves the new token.
Errors: "roam: <code name> (<code>): <message>" on stderr, exit status 1;
usage errors exit with status 2.
`
