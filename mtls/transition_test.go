package mtls

import "testing"

func TestTransition(t *testing.T) {
	ok := &Result{OK: true}
	connect := &Result{Stage: StageConnect}
	tls := &Result{Stage: StageTLS}
	for _, c := range []struct {
		name      string
		prev, cur *Result
		want      bool
	}{
		{"first run passes", nil, ok, false},
		{"first run fails", nil, connect, true},
		{"still passing", ok, ok, false},
		{"starts failing", ok, connect, true},
		{"recovers", connect, ok, true},
		{"same cause again", connect, &Result{Stage: StageConnect}, false},
		{"cause changes connect to tls", connect, tls, true},
		{"cause changes back", tls, connect, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Transition(c.prev, c.cur); got != c.want {
				t.Fatalf("Transition = %v, want %v", got, c.want)
			}
		})
	}
}
