# pysaml2_redirect.py KEY RELAYSTATE SIGALG...: prints, one line per SIGALG,
# the HTTP-Redirect URL of a LogoutRequest an IdP signs with pysaml2
# (saml2.pack.http_redirect_message), for sp's TestVerifyRedirectPysaml2.
import sys

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from saml2.pack import http_redirect_message
from saml2.sigver import RSACrypto

key_path, relay_state, sigalgs = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(key_path, "rb") as f:
    key = load_pem_private_key(f.read(), password=None)
xml = (
    '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
    'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_pysaml2-1" Version="2.0" '
    'IssueInstant="2026-12-01T00:00:00Z" Destination="https://sp.example.com/saml/slo">'
    "<saml:Issuer>https://idp.example.com/metadata</saml:Issuer>"
    "<saml:NameID>u@example.com</saml:NameID></samlp:LogoutRequest>"
)
for sigalg in sigalgs:
    info = http_redirect_message(xml, "https://sp.example.com/saml/slo", relay_state, "SAMLRequest",
                                 sigalg=sigalg, sign=True, backend=RSACrypto(key))
    print(dict(info["headers"])["Location"])
