#!/bin/sh
# gen.sh makes every fixture in this directory with the real tools: keytool
# (JDK 17), openssl (3.x) and, for the two crafted JKS files that no tool
# would write, python3. Run it from this directory; it overwrites the
# fixtures. Passwords: store "storepass1", key "keypass1" (JKS only; keytool
# uses the store password for PKCS#12 keys).
set -eu
cd "$(dirname "$0")"
rm -f *.jks *.p12 *.pem *.der *.jceks *.csr *.srl *.cnf *.p7b
SP=storepass1
KP=keypass1
DN="CN=sp.example.com, OU=SSO, O=Example, C=US"

# keytool JKS with a key password different from the store password.
keytool -genkeypair -storetype jks -alias saml2sp -keyalg RSA -keysize 2048 -validity 3650 \
  -dname "$DN" -keystore keytool.jks -storepass $SP -keypass $KP 2>/dev/null
# keytool PKCS#12 (JDK 17 default type: AES-256/PBES2, HMAC-SHA256 MAC)
# inside a file named .jks, as the reference's commands make it (keytool
# lower-cases the alias MyKey).
keytool -genkeypair -alias MyKey -keyalg RSA -keysize 2048 -validity 3650 \
  -dname "$DN" -keystore keytool-default.jks -storepass $SP 2>/dev/null
# keytool EC PKCS#12.
keytool -genkeypair -storetype pkcs12 -alias ec -keyalg EC -groupname secp256r1 -validity 3650 \
  -dname "$DN" -keystore keytool-ec.p12 -storepass $SP 2>/dev/null
# keytool JCEKS: unsupported, must be refused by content.
keytool -genkeypair -storetype jceks -alias k -keyalg RSA -keysize 2048 -validity 3650 \
  -dname "$DN" -keystore keytool.jceks -storepass $SP -keypass $SP 2>/dev/null

# A three-level CA chain: root -> intermediate -> leaf.
cat > ca.cnf <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth, serverAuth
CNF
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/C=US/O=Example/CN=Example Root CA" \
  -keyout root-key.pem -out root.pem -extensions ca -config ca.cnf 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/C=US/O=Example/CN=Example Intermediate CA" \
  -keyout intermediate-key.pem -out intermediate.csr 2>/dev/null
openssl x509 -req -in intermediate.csr -CA root.pem -CAkey root-key.pem -CAcreateserial -sha256 -days 3650 \
  -extfile ca.cnf -extensions ca -out intermediate.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/C=US/O=Example/CN=sp.example.com" \
  -keyout leaf-key.pem -out leaf.csr 2>/dev/null
openssl x509 -req -in leaf.csr -CA intermediate.pem -CAkey intermediate-key.pem -CAcreateserial -sha256 -days 3650 \
  -extfile ca.cnf -extensions leaf -out leaf.pem 2>/dev/null
cat leaf.pem intermediate.pem root.pem > chain.pem
openssl x509 -in root.pem -outform DER -out root.der

# The reference's procedure done by keytool alone: genkeypair, certreq, the
# intermediate signs, import root, intermediate, reply. A keytool PKCS#12
# with a chain of 3 and two trusted entries.
keytool -genkeypair -alias letstestcba -keyalg RSA -keysize 2048 -validity 3650 \
  -dname "CN=letstestcba.example.com, O=Example, C=US" -keystore keytool-chain.p12 -storepass $SP 2>/dev/null
keytool -certreq -alias letstestcba -file letstestcba.csr -keystore keytool-chain.p12 -storepass $SP 2>/dev/null
openssl x509 -req -in letstestcba.csr -CA intermediate.pem -CAkey intermediate-key.pem -CAcreateserial -sha256 -days 3650 \
  -extfile ca.cnf -extensions leaf -out letstestcba-signed.pem 2>/dev/null
keytool -import -noprompt -trustcacerts -alias root -file root.pem -keystore keytool-chain.p12 -storepass $SP 2>/dev/null
keytool -import -noprompt -trustcacerts -alias intermediate -file intermediate.pem -keystore keytool-chain.p12 -storepass $SP 2>/dev/null
keytool -importcert -alias letstestcba -file letstestcba-signed.pem -keystore keytool-chain.p12 -storepass $SP 2>/dev/null
# The same reply as a CA's PKCS#7 bundle (.p7b), PEM and DER.
openssl crl2pkcs7 -nocrl -certfile letstestcba-signed.pem -certfile intermediate.pem -certfile root.pem -out reply.p7b.pem
openssl crl2pkcs7 -nocrl -certfile letstestcba-signed.pem -certfile intermediate.pem -certfile root.pem -outform DER -out reply.p7b
rm -f letstestcba-signed.pem

# PEM keystores: PKCS#8, PKCS#1 and SEC1 keys, each with certificates.
cat leaf-key.pem leaf.pem intermediate.pem > leaf-pkcs8.pem
openssl rsa -in leaf-key.pem -traditional -out leaf-pkcs1-key.pem 2>/dev/null
cat leaf-pkcs1-key.pem intermediate.pem leaf.pem > leaf-pkcs1.pem   # chain out of order on purpose
openssl ecparam -name prime256v1 -genkey -noout -out ec-sec1-key.pem
openssl req -x509 -key ec-sec1-key.pem -sha256 -days 3650 -subj "/CN=ec.example.com" -out ec-cert.pem
cat ec-sec1-key.pem ec-cert.pem > ec-sec1.pem
# An encrypted PKCS#8 key: refused with advice.
openssl pkcs8 -topk8 -in leaf-key.pem -passout pass:$SP -out leaf-encrypted-key.pem

# openssl PKCS#12 with the whole chain (OpenSSL 3 default: AES-256-CBC,
# PBKDF2, HMAC-SHA256) and in the legacy 3DES/RC2 form.
openssl pkcs12 -export -name MySP -inkey leaf-key.pem -in leaf.pem -certfile intermediate.pem \
  -passout pass:$SP -out openssl.p12
openssl pkcs12 -export -legacy -name MySP -inkey leaf-key.pem -in leaf.pem -certfile intermediate.pem \
  -passout pass:$SP -out openssl-legacy.p12 2>/dev/null || \
openssl pkcs12 -export -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -name MySP \
  -inkey leaf-key.pem -in leaf.pem -certfile intermediate.pem -passout pass:$SP -out openssl-legacy.p12

# Weak: 1024-bit RSA self-signed with SHA-1 (validate warns).
openssl req -x509 -newkey rsa:1024 -nodes -sha1 -days 3650 -subj "/CN=weak.example.com" \
  -keyout weak-key.pem -out weak-cert.pem 2>/dev/null
cat weak-key.pem weak-cert.pem > weak.pem

# Mismatched: the leaf certificate with the EC key (key and cert switched).
cat ec-sec1-key.pem leaf.pem > mismatched.pem

# Crafted JKS (python3, no tool writes these):
#  jks-huge-count.jks: 35 bytes, a private-key entry claiming 0xFFFFFFFF
#    certificates; keystore-go would allocate for them before the digest.
#  jks-short-key.jks: a well-formed JKS (correct digest for storepass1)
#    whose encrypted key blob is 10 bytes; keystore-go panics on it.
python3 - <<'PY'
import hashlib, struct
def pw(p): return p.encode('utf-16-be')
body = b'\xfe\xed\xfe\xed' + struct.pack('>II', 2, 1) + struct.pack('>I', 1) + struct.pack('>H', 1) + b'a' \
     + struct.pack('>Q', 0) + struct.pack('>I', 0) + struct.pack('>I', 0xFFFFFFFF)
assert len(body) == 35
open('jks-huge-count.jks', 'wb').write(body)
oid = bytes.fromhex('060b2b060104012a02110101')          # 1.3.6.1.4.1.42.2.17.1.1, keystore-go's
alg = b'\x30' + bytes([len(oid) + 2]) + oid + b'\x05\x00'
octets = b'\x04\x0a' + b'\x00' * 10
blob = b'\x30' + bytes([len(alg) + len(octets)]) + alg + octets
cert = open('root.der', 'rb').read()
body = b'\xfe\xed\xfe\xed' + struct.pack('>II', 2, 1) + struct.pack('>I', 1) + struct.pack('>H', 3) + b'key' \
     + struct.pack('>Q', 0) + struct.pack('>I', len(blob)) + blob + struct.pack('>I', 1) \
     + struct.pack('>H', 5) + b'X.509' + struct.pack('>I', len(cert)) + cert
digest = hashlib.sha1(pw('storepass1') + b'Mighty Aphrodite' + body).digest()
open('jks-short-key.jks', 'wb').write(body + digest)
PY
# A trusted certificate in the keytool JKS too, as the reference imports one.
keytool -importcert -noprompt -alias root -file root.pem -keystore keytool.jks -storepass $SP 2>/dev/null

# The KDF bomb of issue 13: one PBKDF2 key bag of 2^20 iterations repeated
# 30 times (9.7 KB, password storepass1); no tool writes it, the pkcs12
# package's test helper does.
go test ../internal/pkcs12 -count=1 -run TestWriteKDFBomb -args -kdf-bomb="$PWD/kdf-bomb.p12" >/dev/null

# Damaged copies (issue 14): an openssl PKCS#12 and the keytool JKS cut
# short, and the PKCS#12 copied in text mode (every LF became CRLF).
head -c 1500 openssl.p12 > truncated.p12
head -c 2000 keytool.jks > truncated.jks
perl -pe 's/\n/\r\n/g' openssl.p12 > textmode.p12

# Garbage and empty input.
printf 'this is not a keystore\n' > garbage.der
: > empty.der
rm -f *.csr *.srl ca.cnf
