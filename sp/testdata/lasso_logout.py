# lasso_logout.py MODE BINDING IDPKEY IDPCERT SPCERT: Lasso (Entr'ouvert's
# SAML library, Debian python3-lasso) as the IdP in a single logout with
# our SP, for sp's TestLogoutLasso. It talks one line at a time:
#
#   idp-initiated: prints the IdP's signed LogoutRequest (redirect: the URL;
#     post: the base64 SAMLRequest), reads our LogoutResponse (redirect: the
#     URL; post: the base64 SAMLResponse), processes it (Lasso verifies its
#     signature) and prints "ok".
#   sp-initiated: reads our LogoutRequest, processes it (Lasso verifies its
#     signature), and prints the IdP's signed LogoutResponse.
#
# Any failure goes to stderr with exit status 1.
import sys

import lasso

IDP = "https://idp.example.com/metadata"
SP = "https://sp.example.com/saml/metadata"
SLO = "https://sp.example.com/saml/slo"
SLO_DONE = "https://sp.example.com/saml/slo/done"


def pem_body(path):
    return "".join(l.strip() for l in open(path) if not l.startswith("-----"))


def metadata(entity, idp, cert, slo, response_location=None):
    resp = ' ResponseLocation="%s"' % response_location if response_location else ""
    descriptor = "IDPSSODescriptor" if idp else "SPSSODescriptor"
    if idp:
        extra = '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>'
    else:
        extra = '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.example.com/saml/acs" index="0"/>'
    slos = "".join(
        '<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:%s" Location="%s"%s/>' % (b, slo, resp)
        for b in ("HTTP-Redirect", "HTTP-POST"))
    return ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="%s">'
            '<md:%s protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s'
            '</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>%s%s</md:%s></md:EntityDescriptor>'
            % (entity, descriptor, pem_body(cert), slos, extra, descriptor))


def session_dump():
    """A session at the IdP in which alice logged in to our SP."""
    nid = lasso.Saml2NameID()
    nid.content = "alice@example.com"
    nid.format = lasso.SAML2_NAME_IDENTIFIER_FORMAT_EMAIL
    subject = lasso.Saml2Subject()
    subject.nameID = nid
    statement = lasso.Saml2AuthnStatement()
    statement.sessionIndex = "s1"
    assertion = lasso.Saml2Assertion()
    assertion.subject = subject
    assertion.authnStatement = (statement,)
    session = lasso.Session()
    session.addAssertion(SP, assertion)
    return session.dump()


def received(line, binding):
    """The message as Lasso takes it: a redirect URL's query, or the base64 form value."""
    line = line.strip()
    return line.split("?", 1)[1] if binding == "redirect" else line


def sent(logout, binding):
    return logout.msgUrl if binding == "redirect" else logout.msgBody


def main():
    mode, binding, idp_key, idp_cert, sp_cert = sys.argv[1:6]
    method = lasso.HTTP_METHOD_REDIRECT if binding == "redirect" else lasso.HTTP_METHOD_POST
    server = lasso.Server.newFromBuffers(metadata(IDP, True, idp_cert, "https://idp.example.com/slo"),
                                         open(idp_key).read(), None, open(idp_cert).read())
    server.addProviderFromBuffer(lasso.PROVIDER_ROLE_SP, metadata(SP, False, sp_cert, SLO, SLO_DONE))
    server.signatureMethod = lasso.SIGNATURE_METHOD_RSA_SHA256
    logout = lasso.Logout(server)
    logout.setSessionFromDump(session_dump())
    if mode == "idp-initiated":
        logout.initRequest(SP, method)
        logout.msgRelayState = "/bye é"
        logout.buildRequestMsg()
        print(sent(logout, binding), flush=True)
        logout.processResponseMsg(received(sys.stdin.readline(), binding))
        print("ok", flush=True)
    else:
        logout.processRequestMsg(received(sys.stdin.readline(), binding))
        logout.validateRequest()
        logout.buildResponseMsg()
        print(sent(logout, binding), flush=True)


if __name__ == "__main__":
    try:
        main()
    except lasso.Error as e:
        print("lasso: %s" % e, file=sys.stderr)
        sys.exit(1)
