#!/bin/sh
# gen.sh made the fixtures of package sp's response tests (response_test.go).
# Run it from this directory; it overwrites them. Responses themselves are
# made at test time by crewjam/saml's IdentityProvider and by xmlsec1.
set -eu
CJ=$(go env GOMODCACHE)/github.com/crewjam/saml@v0.5.1
key() { # name subject
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 36500 \
		-subj "/CN=samlkeyd response test $2" -keyout "$1.key" -out "$1.crt"
}
key idp "IdP signing"            # the IdP's signing key
key other-idp "other IdP"        # signs responses no IdP record trusts
key sp-sign "SP signing"         # our signing key: must not decrypt
key enc-current "SP encryption current"
key enc-next "SP encryption next"
key enc-previous "SP encryption previous"
chmod 0600 ./*.key
# crewjam/saml's signature-wrapping responses (BSD-2-Clause) and the IdP
# metadata they were signed under, for TestResponseXSW.
for f in TestSPCanHandleOneloginResponse_IDPMetadata $(cd "$CJ/testdata" && ls TestXswPermutation*); do
	cp "$CJ/testdata/$f" crewjam/ && chmod 0644 "crewjam/$f"
done
# Fuzz seeds: crewjam/saml's xmlenc corpus and crashers.
mkdir -p xmlenc-seeds
for f in "$CJ"/xmlenc/corpus/* "$CJ"/xmlenc/crashers/*; do
	cp "$f" "xmlenc-seeds/$(basename "$f")" && chmod 0644 "xmlenc-seeds/$(basename "$f")"
done
