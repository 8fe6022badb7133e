package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// listLines returns the "alias, date, type" lines of keytool -list output,
// normalised: trailing ", " dropped, aliases lower case (keytool lower-cases
// PKCS#12 aliases), sorted.
func listLines(out string) []string {
	re := regexp.MustCompile(`(?m)^(.+), ([A-Z][a-z]{2} \d{1,2}, \d{4}), (PrivateKeyEntry|trustedCertEntry),\s*$`)
	var lines []string
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		lines = append(lines, strings.ToLower(m[1])+", "+m[2]+", "+m[3])
	}
	slices.Sort(lines)
	return lines
}

// TestKeystoreListMatchesKeytool: every entry line of `keystore list` (the
// alias, its date, its type) is keytool -list's, key entries included
// (issue 14: key entries had no date).
func TestKeystoreListMatchesKeytool(t *testing.T) {
	for _, f := range []string{"keytool.jks", "keytool-default.jks", "keytool-chain.p12", "keytool-ec.p12", "openssl.p12"} {
		t.Run(f, func(t *testing.T) {
			want := listLines(tool(t, "keytool", "-J-Duser.timezone=UTC", "-list", "-keystore", fixture(f), "-storepass", "storepass1"))
			out := mustCLI(t, "keystore", "list", "--keystore", fixture(f), "--storepass", "storepass1")
			got := listLines(out)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("keystore list entries\n%q\nkeytool -list entries\n%q\nfull output:\n%s", got, want, out)
			}
		})
	}
}
