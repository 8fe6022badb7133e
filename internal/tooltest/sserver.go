package tooltest

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// StartSServer runs `openssl s_server -Verify 1 -verify_return_error` on a
// free loopback port with the server certificate and key files given,
// requiring a client certificate issued by one in caFile, and returns its
// address once it accepts; the server is killed when the test ends.
func StartSServer(t testing.TB, certFile, keyFile, caFile string) string {
	t.Helper()
	openssl := Path(t, "openssl")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	cmd := exec.Command(openssl, "s_server", "-accept", addr, "-cert", certFile, "-key", keyFile,
		"-CAfile", caFile, "-Verify", "1", "-verify_return_error", "-www")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "ACCEPT") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("openssl s_server on %s did not start", addr)
	}
	return addr
}
