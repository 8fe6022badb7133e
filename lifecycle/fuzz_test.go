package lifecycle

import (
	"testing"
	"time"
)

// FuzzDue feeds Due and Published arbitrary key sets (decoded from bytes:
// per key a state and three day offsets) and checks that they never panic
// and that every step names a key in the state it acts on.
func FuzzDue(f *testing.F) {
	f.Add([]byte{1, 60, 0, 0}, int64(30), true)
	f.Add([]byte{1, 60, 0, 0, 0, 150, 30, 0}, int64(37), false)
	f.Add([]byte{1, 60, 0, 0, 2, 20, 0, 246}, int64(4), false)
	f.Add([]byte{0, 1, 2, 3, 0, 4, 5, 6}, int64(-5), true)
	f.Fuzz(func(t *testing.T, data []byte, nowDays int64, caught bool) {
		states := []State{StateNext, StateActive, StateRetired, StateInactive, "bogus"}
		var keys []Key
		for i := 0; i+4 <= len(data) && len(keys) < 16; i += 4 {
			d := func(b byte) time.Time { return t0.Add(time.Duration(int8(b)) * day) }
			keys = append(keys, Key{ID: string(rune('a' + len(keys))), State: states[int(data[i])%len(states)],
				NotAfter: d(data[i+1]), PublishedAt: d(data[i+2]), RetiredAt: d(data[i+3])})
		}
		now := t0.Add(time.Duration(nowDays%100000) * day)
		step := Due(keys, now, policy, caught)
		var want State
		switch step.Kind {
		case StepNone, StepGenerateNext:
			if step.KeyID != "" {
				t.Fatalf("%s names key %q", step.Kind, step.KeyID)
			}
			return
		case StepPromote:
			want = StateNext
		case StepDeactivate:
			want = StateRetired
		default:
			t.Fatalf("unknown step %q", step.Kind)
		}
		found := false
		for _, k := range keys {
			found = found || (k.ID == step.KeyID && k.State == want)
		}
		if !found {
			t.Fatalf("%s names %q, which is not %s in %+v", step.Kind, step.KeyID, want, keys)
		}
		for _, k := range Published(keys, now, policy) {
			if k.State == StateInactive {
				t.Fatalf("published inactive key %s", k.ID)
			}
		}
	})
}
