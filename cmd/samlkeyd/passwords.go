package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/samlkeyd/samlkeyd/secret"
)

// passwordFlags is one password given as --NAME, --NAME-file or --NAME-env,
// or typed at a prompt when stdin is a terminal. Commands that take
// keystore passwords (keystore *, cert add) share it.
type passwordFlags struct {
	name    string
	literal string
	file    string
	env     string
	fs      *pflag.FlagSet
}

// addPasswordFlags registers --NAME, --NAME-file and --NAME-env on fs.
func addPasswordFlags(fs *pflag.FlagSet, name, usage string) *passwordFlags {
	p := &passwordFlags{name: name, fs: fs}
	fs.StringVar(&p.literal, name, "", usage+" (visible to other local users in the process list: prefer --"+name+"-file or --"+name+"-env)")
	fs.StringVar(&p.file, name+"-file", "", "read the "+usage+" from this file (first line)")
	fs.StringVar(&p.env, name+"-env", "", "read the "+usage+" from this environment variable")
	return p
}

// value returns the password from the flags, or, when none is set and stdin
// is a terminal, from a prompt that does not echo. With no flag and no
// terminal it fails naming the flags to use.
func (p *passwordFlags) value(a *app, prompt string) (secret.Value, error) {
	v, ok, err := p.fromFlags()
	if err != nil || ok {
		return v, err
	}
	f, isFile := a.stdin.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		return secret.Value{}, fmt.Errorf("%s: give --%s-file, --%s-env or --%s (stdin is not a terminal to prompt on)", p.name, p.name, p.name, p.name)
	}
	fmt.Fprint(a.stderr, prompt+": ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return secret.Value{}, fmt.Errorf("%s: read from terminal: %w", p.name, err)
	}
	v = secret.New(b)
	clear(b)
	return v, nil
}

// optional returns the password from the flags, or an empty value when
// none is set (never prompting): for a key password that defaults to the
// store password.
func (p *passwordFlags) optional() (secret.Value, error) {
	v, _, err := p.fromFlags()
	return v, err
}

func (p *passwordFlags) fromFlags() (secret.Value, bool, error) {
	n := 0
	if p.fs.Changed(p.name) {
		n++
	}
	if p.file != "" {
		n++
	}
	if p.env != "" {
		n++
	}
	switch {
	case n > 1:
		return secret.Value{}, false, fmt.Errorf("%s: give only one of --%s, --%s-file and --%s-env", p.name, p.name, p.name, p.name)
	case p.fs.Changed(p.name):
		return secret.FromString(p.literal), true, nil
	case p.file != "":
		b, err := os.ReadFile(p.file)
		if err != nil {
			return secret.Value{}, false, fmt.Errorf("%s: read --%s-file: %w", p.name, p.name, err)
		}
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		v := secret.New(line)
		clear(b)
		if v.Empty() {
			return secret.Value{}, false, fmt.Errorf("%s: --%s-file %q is empty", p.name, p.name, p.file)
		}
		return v, true, nil
	case p.env != "":
		s, ok := os.LookupEnv(p.env)
		if !ok {
			return secret.Value{}, false, fmt.Errorf("%s: environment variable %q (--%s-env) is not set", p.name, p.env, p.name)
		}
		return secret.FromString(s), true, nil
	}
	return secret.Value{}, false, nil
}
