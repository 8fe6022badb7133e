#!/bin/sh
# gen.sh makes the metadata package's test credentials with openssl
# (OpenSSL 3.0). Run it from this directory; the golden files then need
# `go test ./metadata -run Golden -update`, since the certificates change.
# The keys are test-only and are never used outside these tests.
set -eu

# RSA-2048 signing and encryption credentials, self-signed, ten years.
for use in signing encryption; do
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
		-subj "/O=samlkeyd test/CN=sp.example.com $use" -set_serial 0x1001 \
		-keyout "rsa-$use.key" -out "rsa-$use.crt"
done

# A second RSA signing credential: the "next" key of a rollover.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
	-subj "/O=samlkeyd test/CN=sp.example.com signing next" -set_serial 0x1002 \
	-keyout rsa-signing-next.key -out rsa-signing-next.crt

# EC P-256 signing credential.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
	-subj "/O=samlkeyd test/CN=sp.example.com ec signing" -set_serial 0x1003 \
	-keyout ec-signing.key -out ec-signing.crt

chmod 0600 ./*.key
