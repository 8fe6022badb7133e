package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestCheckResults(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		c0, _ := s.ChangeCounter(ctx)
		t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		for i := range 5 {
			if err := s.AddCheckResult(ctx, "partner", t0.Add(time.Duration(i)*time.Minute), i%2 == 0,
				[]byte(fmt.Sprintf(`{"n":%d}`, i)), 3); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddCheckResult(ctx, "other", t0, true, []byte(`{}`), 3); err != nil {
			t.Fatal(err)
		}
		all, err := s.CheckResults(ctx, "partner", 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range all {
			got = append(got, fmt.Sprintf("%s %v %s", r.At.Format("15:04"), r.OK, r.Result))
		}
		want := []string{`00:04 true {"n":4}`, `00:03 false {"n":3}`, `00:02 true {"n":2}`}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("CheckResults = %v, want the newest 3 kept, newest first: %v", got, want)
		}
		if two, _ := s.CheckResults(ctx, "partner", 2); len(two) != 2 || two[0].At != all[0].At {
			t.Errorf("CheckResults(n=2) = %v", two)
		}
		if none, err := s.CheckResults(ctx, "missing", 5); err != nil || len(none) != 0 {
			t.Errorf("CheckResults(missing) = %v, %v", none, err)
		}
		if err := s.AddCheckResult(ctx, "partner", t0, true, []byte(`{not json`), 3); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddCheckResult(bad JSON) = %v, want ErrInvalid", err)
		}
		if c1, _ := s.ChangeCounter(ctx); c1 != c0 {
			t.Error("check results moved the change counter")
		}
	})
}
