# pysaml2_idp.py IDP_ENTITY SSO_URL KEY CERT SP_METADATA REQUEST_ID SP_ENTITY ACS:
# prints the base64 SAMLResponse a pysaml2 IdP (saml2.server.Server, signing
# with xmlsec1) sends for REQUEST_ID, Response and Assertion signed, for
# idpmeta's TestEndToEndPysaml2.
import base64
import sys

from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server

idp_entity, sso_url, key, cert, sp_md, req_id, sp_entity, acs = sys.argv[1:9]
conf = IdPConfig()
conf.load({
    "entityid": idp_entity,
    "service": {"idp": {
        "endpoints": {"single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT)]},
        "policy": {"default": {"lifetime": {"minutes": 15}, "name_form": NAME_FORMAT_URI}},
        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
    }},
    "key_file": key,
    "cert_file": cert,
    "metadata": {"local": [sp_md]},
    "xmlsec_binary": "/usr/bin/xmlsec1",
})
srv = Server(config=conf)
resp = srv.create_authn_response(
    {"mail": ["alice@example.org"]}, in_response_to=req_id, destination=acs, sp_entity_id=sp_entity,
    name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="alice@example.org"),
    sign_response=True, sign_assertion=True,
    sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", digest_alg="http://www.w3.org/2001/04/xmlenc#sha256")
print(base64.b64encode(str(resp).encode()).decode())
