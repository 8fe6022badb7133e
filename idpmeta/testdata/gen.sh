#!/bin/sh
# Makes the test keys of package idpmeta: key0 signs test aggregates and MDQ
# answers (the federation signer), key1..key4 are IdP signing keys.
set -eu
cd "$(dirname "$0")"
for i in 0 1 2 3 4; do
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7300 \
		-subj "/CN=idpmeta test key $i" -keyout key$i.pem -out cert$i.pem 2>/dev/null
done
