package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/roamhq/roam/client"
)

// Scene commands (PROTOCOL.md §19): roam scene SUBCOMMAND [ARGS].
//
// The server keeps nothing of a scene between connections (positions are
// volatile, a seat ends with its connection), and every CLI command is a
// connection of its own. So the CLI keeps the scene and the position in
// its state file: join and move set them, and say and act connect, join
// there, say or act, and leave (the players around see the speaker
// enter, speak and leave). watch stays connected: it joins, prints what
// reaches this player, and reads move/say/act lines from stdin — the way
// to be in a scene for a while. Use another --device (or --state) for a
// second terminal: the same device resuming elsewhere replaces the
// first's session.

const sceneUsage = `scene join SCENE X Y         join (checks it) and remember the scene and position
  scene move X Y               remember a new position (sent by the next say, act or watch)
  scene say TEXT...            say TEXT to the players within hearing
  scene act ACTION             perform ACTION for the players within view
  scene watch [SCENE X Y]      stay in the scene: print says, actions and who enters or
                               leaves the view; stdin lines: move X Y | say TEXT | act ACTION | /quit
  scene leave                  forget the scene`

func cmdScene(a *app, argv []string) error {
	if len(argv) == 0 {
		return usagef("scene: missing subcommand (join, move, say, act, watch or leave)")
	}
	sub, rest := argv[0], argv[1:]
	switch sub {
	case "join":
		return sceneJoin(a, rest)
	case "move":
		return sceneMove(a, rest)
	case "say", "act":
		return sceneSpeak(a, sub, rest)
	case "watch":
		return sceneWatch(a, rest)
	case "leave":
		a.st.Scene = nil
		if err := a.save(); err != nil {
			return err
		}
		a.emit("left the scene", map[string]any{"type": "ok", "op": "scene_leave"})
		return nil
	case "help":
		fmt.Fprintln(a.stdout, "usage: roam [flags] "+sceneUsage)
		return nil
	}
	return usagef("scene: unknown subcommand %q", sub)
}

// SceneState is the scene the CLI is in, kept in the state file.
type SceneState struct {
	Name string  `json:"name"`
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
}

func parseXY(xs, ys string) (float64, float64, error) {
	x, err1 := strconv.ParseFloat(xs, 64)
	y, err2 := strconv.ParseFloat(ys, 64)
	if err1 != nil || err2 != nil || math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		return 0, 0, usagef("scene: X and Y must be finite numbers, got %q %q", xs, ys)
	}
	return x, y, nil
}

// joinSaved connects and joins the saved scene.
func (a *app) joinSaved(c *client.Client) (client.SceneInfo, error) {
	sc := a.st.Scene
	if sc == nil {
		return client.SceneInfo{}, usagef("scene: not in a scene; run: roam scene join SCENE X Y")
	}
	return c.SceneJoin(a.ctx, sc.Name, sc.X, sc.Y)
}

func (a *app) joinedText(info client.SceneInfo, x, y float64) {
	a.emit(fmt.Sprintf("in scene %s at (%g, %g) as player %d: hearing %g, view %g, at most %d listeners",
		info.Scene, x, y, info.ID, info.Hear, info.View, info.MaxListeners),
		map[string]any{"type": "scene_joined", "scene": info.Scene, "id": info.ID, "x": x, "y": y,
			"hear": info.Hear, "view": info.View, "max_listeners": info.MaxListeners, "zones": info.Zones})
}

func sceneJoin(a *app, argv []string) error {
	if err := args("scene join SCENE X Y", argv, 3, 3); err != nil {
		return err
	}
	x, y, err := parseXY(argv[1], argv[2])
	if err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	info, err := c.SceneJoin(a.ctx, argv[0], x, y)
	if err != nil {
		return err
	}
	a.st.Scene = &SceneState{Name: info.Scene, X: x, Y: y}
	a.joinedText(info, x, y)
	return nil // finish saves the state
}

func sceneMove(a *app, argv []string) error {
	if err := args("scene move X Y", argv, 2, 2); err != nil {
		return err
	}
	x, y, err := parseXY(argv[0], argv[1])
	if err != nil {
		return err
	}
	if a.st.Scene == nil {
		return usagef("scene: not in a scene; run: roam scene join SCENE X Y")
	}
	a.st.Scene.X, a.st.Scene.Y = x, y
	if err := a.save(); err != nil {
		return err
	}
	a.emit(fmt.Sprintf("position in %s: (%g, %g)", a.st.Scene.Name, x, y),
		map[string]any{"type": "ok", "op": "scene_move", "scene": a.st.Scene.Name, "x": x, "y": y})
	return nil
}

func sceneSpeak(a *app, sub string, argv []string) error {
	if err := args("scene "+sub+" TEXT...", argv, 1, -1); err != nil {
		return err
	}
	text := strings.Join(argv, " ")
	if a.st.Scene == nil {
		return usagef("scene: not in a scene; run: roam scene join SCENE X Y")
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	if _, err := a.joinSaved(c); err != nil {
		return err
	}
	if sub == "say" {
		err = c.SceneSay(a.ctx, text)
	} else {
		err = c.SceneAct(a.ctx, text, nil)
	}
	if err != nil {
		return err
	}
	a.emit(fmt.Sprintf("%s in %s: %s", sub, a.st.Scene.Name, text),
		map[string]any{"type": "ok", "op": "scene_" + sub, "scene": a.st.Scene.Name, "text": text})
	return nil
}

// printSceneEvent prints a say ("[scene] name: text") or an action
// ("[scene] * name action").
func (a *app) printSceneEvent(e client.SceneEvent) {
	obj := map[string]any{"type": "scene_" + e.Kind, "scene": e.Scene, "id": e.ID, "from": e.From, "x": e.X, "y": e.Y, "sent": ts(e.Sent)}
	var text string
	if e.Kind == "say" {
		obj["text"] = e.Text
		text = fmt.Sprintf("%s [%s] %s: %s", e.Sent.Local().Format(time.TimeOnly), e.Scene, e.From, e.Text)
	} else {
		obj["action"] = e.Action
		text = fmt.Sprintf("%s [%s] * %s %s", e.Sent.Local().Format(time.TimeOnly), e.Scene, e.From, e.Action)
	}
	a.emit(text, obj)
}

func (a *app) printSceneView(v client.SceneView) {
	for _, p := range v.Enter {
		a.emit(fmt.Sprintf("* %s (player %d) comes into view at (%g, %g)", p.Name, p.ID, p.X, p.Y),
			map[string]any{"type": "scene_enter", "scene": v.Scene, "id": p.ID, "name": p.Name, "x": p.X, "y": p.Y})
	}
	for _, id := range v.Leave {
		a.emit(fmt.Sprintf("* player %d leaves the view", id), map[string]any{"type": "scene_leave", "scene": v.Scene, "id": id})
	}
}

func sceneWatch(a *app, argv []string) error {
	if len(argv) != 0 && len(argv) != 3 {
		return usagef("scene watch takes no arguments, or SCENE X Y")
	}
	if len(argv) == 3 {
		x, y, err := parseXY(argv[1], argv[2])
		if err != nil {
			return err
		}
		a.st.Scene = &SceneState{Name: strings.ToLower(argv[0]), X: x, Y: y}
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	info, err := a.joinSaved(c)
	if err != nil {
		return err
	}
	a.joinedText(info, a.st.Scene.X, a.st.Scene.Y)
	if !a.json {
		fmt.Fprintf(a.stderr, "watching %s as %s; lines: move X Y | say TEXT | act ACTION | /quit\n", info.Scene, c.User())
	}
	lines := make(chan string)
	go a.readLines(a.ctx, lines)
	for {
		select {
		case <-a.ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				// stdin ended (a script, or /dev/null): keep watching
				// until interrupted.
				lines = nil
				continue
			}
			if quit := a.sceneLine(c, strings.TrimSpace(line)); quit {
				return nil
			}
		case ev, ok := <-c.Events():
			if !ok {
				return nil
			}
			switch ev.Kind {
			case client.EventScene:
				a.printSceneEvent(ev.SceneEvent)
			case client.EventSceneView:
				a.printSceneView(ev.SceneView)
			case client.EventSceneJoined:
				a.note(fmt.Sprintf("* back in %s as player %d", ev.SceneInfo.Scene, ev.SceneInfo.ID),
					map[string]any{"type": "scene_rejoined", "scene": ev.SceneInfo.Scene, "id": ev.SceneInfo.ID})
			case client.EventSceneRehosted:
				a.note("* the scene's host changed; the view starts again",
					map[string]any{"type": "scene_rehosted", "scene": ev.SceneInfo.Scene})
			case client.EventDisconnected:
				a.note("* connection lost; reconnecting", map[string]any{"type": "disconnected", "error": ev.Err.Error()})
			case client.EventReconnected:
				a.saveToken(c)
				a.note("* reconnected to "+ev.Addr, map[string]any{"type": "reconnected", "addr": ev.Addr})
			case client.EventSessionEnded:
				return ev.Err
			}
		}
	}
}

// sceneLine runs one line typed in watch; it reports /quit.
func (a *app) sceneLine(c *client.Client, line string) bool {
	cmd, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	var err error
	switch cmd {
	case "":
		return false
	case "/quit", "quit":
		return true
	case "move":
		f := strings.Fields(rest)
		if len(f) != 2 {
			err = fmt.Errorf("move X Y")
			break
		}
		var x, y float64
		if x, y, err = parseXY(f[0], f[1]); err == nil {
			if err = c.SceneMove(a.ctx, x, y); err == nil {
				a.st.Scene.X, a.st.Scene.Y = x, y
			}
		}
	case "say":
		err = c.SceneSay(a.ctx, rest)
	case "act":
		err = c.SceneAct(a.ctx, rest, nil)
	default:
		err = fmt.Errorf("unknown %q: move X Y, say TEXT, act ACTION or /quit", cmd)
	}
	if err != nil {
		a.warn(err)
	}
	return false
}
