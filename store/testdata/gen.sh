#!/bin/sh
# Regenerates the store's fixtures with real tools (keytool from JDK 17,
# openssl), then writes the previous-schema store v1.db by running the v1
# migrations (go test -run TestWriteV1Fixture -write-v1-fixture).
# The passwords are sentinels: tests assert they never appear in clear in a
# database, a log, an error, a dump or JSON output.
set -eu
cd "$(dirname "$0")"
rm -f sp.jks sp.p12 cert.pem keypair.pem legacy.jks legacy.der master.key v1.db

STOREPASS=Sentinel-Store-Pw-7q
KEYPASS=Sentinel-Key-Pw-3z

# A JKS keystore with a separate key password, as keytool's procedure makes it.
keytool -genkeypair -alias sp -keyalg RSA -keysize 2048 -validity 3650 \
	-dname "CN=sp.example.com,O=Example,C=US" -storetype JKS \
	-keystore sp.jks -storepass "$STOREPASS" -keypass "$KEYPASS" 2>/dev/null

# A PKCS#12 keystore (keytool's default type since JDK 9).
keytool -genkeypair -alias sp -keyalg RSA -keysize 2048 -validity 3650 \
	-dname "CN=sp12.example.com,O=Example,C=US" -storetype PKCS12 \
	-keystore sp.p12 -storepass "$STOREPASS" 2>/dev/null

# The JKS keystore's certificate alone: a trust-store certificate.
keytool -exportcert -rfc -alias sp -keystore sp.jks -storepass "$STOREPASS" -file cert.pem 2>/dev/null

# A PEM file with a private key and its certificate: not a trust-store cert.
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=pem.example.com" \
	-keyout keypair.key -out keypair.crt 2>/dev/null
cat keypair.key keypair.crt > keypair.pem
rm keypair.key keypair.crt

# The keystore the previous-schema store selects with its signing property.
keytool -genkeypair -alias legacy -keyalg RSA -keysize 2048 -validity 3650 \
	-dname "CN=legacy.example.com,O=Example,C=US" -storetype JKS \
	-keystore legacy.jks -storepass "$STOREPASS" -keypass "$STOREPASS" 2>/dev/null
keytool -exportcert -alias legacy -keystore legacy.jks -storepass "$STOREPASS" -file legacy.der 2>/dev/null

# The test master key that seals v1.db's passwords (a test key, nothing else).
openssl rand -base64 32 > master.key
chmod 600 master.key

# v1.db: a SQLite store at schema version 1 (only the signing property).
(cd .. && go test -count=1 -run '^TestWriteV1Fixture$' . -args -write-v1-fixture)
