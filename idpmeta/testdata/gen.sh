#!/bin/sh
# Makes the test keys of package idpmeta: key0 signs test aggregates and MDQ
# answers (the federation signer), key1..key4 are IdP signing keys.
set -eu
cd "$(dirname "$0")"
for i in 0 1 2 3 4; do
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 7300 \
		-subj "/CN=idpmeta test key $i" -keyout key$i.pem -out cert$i.pem 2>/dev/null
done

# aggregate.xml: a two-IdP aggregate signed by key0 with xmlsec1, for
# ExampleVerifyAggregateFile.
c1=$(sed '1d;$d' cert1.pem | tr -d '\n')
cat > aggregate.tmpl.xml <<XML
<?xml version="1.0" encoding="UTF-8"?>
<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_fed" Name="urn:example:fed" validUntil="2045-01-01T00:00:00Z" cacheDuration="PT6H">
<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_fed"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>
<md:EntityDescriptor entityID="https://idp.uni-a.example/idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$c1</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.uni-a.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>
<md:EntityDescriptor entityID="https://idp.uni-b.example/idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$c1</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.uni-b.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>
</md:EntitiesDescriptor>
XML
xmlsec1 --sign --privkey-pem key0.pem --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor --output aggregate.xml aggregate.tmpl.xml
rm aggregate.tmpl.xml
