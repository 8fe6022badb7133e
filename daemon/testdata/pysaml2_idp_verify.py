"""Verify redirect-signed AuthnRequests as a pysaml2 IdP would: with the
signing certificates of the SP metadata the IdP fetched.

usage: pysaml2_idp_verify.py SP_ENTITY_ID METADATA_FILE URL [METADATA_FILE URL ...]
prints one line per pair: "ok" or "fail: reason".
"""
import sys
import urllib.parse

from saml2 import config
from saml2.attribute_converter import ac_factory
from saml2.mdstore import MetadataStore
from saml2.sigver import RSACrypto, verify_redirect_signature


def verify(entity_id, md_file, url):
    conf = config.Config()
    conf.load({"entityid": "https://idp.example.com/metadata"})
    mds = MetadataStore(ac_factory(), conf, check_validity=False)
    mds.load("local", md_file)
    certs = mds.certs(entity_id, "spsso", "signing")
    if not certs:
        return "fail: no signing certificate in the metadata"
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
    for cert in certs:
        try:
            if verify_redirect_signature(query, RSACrypto(None), cert=cert):
                return "ok"
        except Exception:  # a wrong key: try the next certificate
            continue
    return "fail: no published certificate verifies the signature (%d tried)" % len(certs)


def main(argv):
    entity_id, rest = argv[1], argv[2:]
    for i in range(0, len(rest), 2):
        print(verify(entity_id, rest[i], rest[i + 1]))


if __name__ == "__main__":
    main(sys.argv)
