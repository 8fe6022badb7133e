#!/bin/sh
# gen.sh made the key and certificate fixtures of package sp's tests.
# Run it from this directory; it overwrites the fixtures. The golden
# messages are made by the tests: go test ./sp -run Golden -update
set -eu
subj() { printf '/CN=samlkeyd sp test %s' "$1"; }
# RSA-2048: the default signing key (rsa-sha1 and rsa-sha256/384/512).
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 36500 \
	-subj "$(subj rsa2048)" -keyout rsa2048.key -out rsa2048.crt
# RSA-1024: too short to sign with; New must refuse it.
openssl req -x509 -newkey rsa:1024 -nodes -sha256 -days 36500 \
	-subj "$(subj rsa1024)" -keyout rsa1024.key -out rsa1024.crt
# EC P-256 and P-384: ecdsa-sha256/384/512.
for c in P-256 P-384; do
	n=$(echo "$c" | tr -d '-' | tr 'P' 'p')
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:"$c" -nodes -sha256 -days 36500 \
		-subj "$(subj "$n")" -keyout "ec$n.key" -out "ec$n.crt"
done
chmod 0600 ./*.key
