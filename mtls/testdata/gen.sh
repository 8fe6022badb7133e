#!/bin/sh
# gen.sh regenerates the fuzz seeds of the mtls package with openssl.
# Run it from this directory: sh gen.sh
#
# partner-ca.pem  a CA whose subject has a multi-valued RDN (OU=PKI+OU=mTLS),
#                 as servers list it in a CertificateRequest
# utf8-ca.pem     a CA with a UTF-8 common name and an emailAddress attribute
# checks.txt      check URL, schedule and method seeds, tab-separated; written
#                 by hand, not by this script
set -eu
key=$(mktemp)
trap 'rm -f "$key"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$key" \
	-days 3650 -multivalue-rdn \
	-subj "/C=DE/O=Partner AG/OU=PKI+OU=mTLS/CN=Partner Client CA" -out partner-ca.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$key" \
	-days 3650 -utf8 \
	-subj "/CN=Zürich Root ✓/emailAddress=pki@partner.example" -out utf8-ca.pem
