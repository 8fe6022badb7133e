package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// writerEnv tells a re-executed test binary to act as a writer process.
const writerEnv = "SAMLKEYD_STORE_TEST_WRITER"

// TestWriterProcess is the body of one writer process of
// TestTwoProcessesNoLostUpdate; run directly it skips.
func TestWriterProcess(t *testing.T) {
	name := os.Getenv(writerEnv)
	if name == "" {
		t.Skip("helper process of TestTwoProcessesNoLostUpdate")
	}
	ctx := context.Background()
	s, err := Open(ctx, Options{DataDir: os.Getenv(writerEnv + "_DIR"), MasterKey: testMasterKey, NoBaseKeystores: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 25 {
		if err := s.SetProperty(ctx, name, "test."+name, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTwoProcessesNoLostUpdate runs two OS processes writing to one SQLite
// store at once, as two CLI invocations would: every change is kept.
func TestTwoProcessesNoLostUpdate(t *testing.T) {
	ctx := context.Background()
	o := Options{DataDir: t.TempDir(), MasterKey: testMasterKey, NoBaseKeystores: true}
	s := open(t, o)
	c0, _ := s.ChangeCounter(ctx)
	var cmds []*exec.Cmd
	for _, name := range []string{"p1", "p2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), writerEnv+"="+name, writerEnv+"_DIR="+o.DataDir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer process: %v", err)
		}
	}
	c1, _ := s.ChangeCounter(ctx)
	if c1-c0 != 50 {
		t.Errorf("change counter moved by %d after 2×25 changes", c1-c0)
	}
	entries, err := s.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 50 {
		t.Errorf("%d audit entries after 2×25 changes", len(entries))
	}
	for _, name := range []string{"p1", "p2"} {
		assertProp(t, s, "test."+name, "24")
	}
}
