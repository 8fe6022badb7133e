package idpmeta

import (
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	c := NewCache()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const u = "https://idp.example.com/md"
	if !c.Due(u, time.Hour, t0) || c.Get(u) != nil {
		t.Fatal("an empty cache has the URL")
	}
	if !c.Put(u, []byte("a"), t0) {
		t.Fatal("first document: not changed")
	}
	if c.Due(u, time.Hour, t0.Add(59*time.Minute)) || !c.Due(u, time.Hour, t0.Add(time.Hour)) {
		t.Fatal("due before an hour or not after")
	}
	if c.Put(u, nil, t0.Add(time.Hour)) || string(c.Get(u)) != "a" {
		t.Fatal("a failed fetch lost the previous document or counted as a change")
	}
	if c.Due(u, time.Hour, t0.Add(90*time.Minute)) {
		t.Fatal("a failed attempt did not count as an attempt")
	}
	if c.Put(u, []byte("a"), t0.Add(2*time.Hour)) || !c.Put(u, []byte("b"), t0.Add(3*time.Hour)) {
		t.Fatal("same bytes counted as a change, or new bytes not")
	}
}
