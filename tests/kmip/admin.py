"""Makes and inspects KMIP keys for cosmoseal's kmip KEK tests (PyKMIP's client, mutual TLS).

  admin.py --port N --cert PEM --key PEM --ca PEM create NAME [--not-sensitive] [--exportable]
      creates an active AES-256 key named NAME with usage Encrypt|Decrypt, marked Sensitive
      (KMIP 1.4: the server must not hand out its bytes) unless --not-sensitive; --exportable
      adds the Export usage bit. Prints the key's Unique Identifier.
  admin.py ... revoke NAME      revokes the key (it can no longer encrypt or decrypt).
"""

import argparse
import sys

from kmip import enums
from kmip.pie.client import ProxyKmipClient


def client(args, version=enums.KMIPVersion.KMIP_1_4):
    return ProxyKmipClient(
        hostname="127.0.0.1",
        port=args.port,
        cert=args.cert,
        key=args.key,
        ca=args.ca,
        config_file="/dev/null",
        kmip_version=version,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("op", choices=["create", "revoke"])
    parser.add_argument("name")
    parser.add_argument("--not-sensitive", action="store_true")
    parser.add_argument("--exportable", action="store_true")
    args = parser.parse_args()

    if args.op == "create":
        usage = [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]
        if args.exportable:
            usage.append(enums.CryptographicUsageMask.EXPORT)
        with client(args) as c:
            uid = c.create(
                enums.CryptographicAlgorithm.AES, 256, name=args.name, cryptographic_usage_mask=usage
            )
            c.activate(uid)
        if not args.not_sensitive:
            # Set Attribute is a KMIP 2.0 operation in PyKMIP.
            with client(args, enums.KMIPVersion.KMIP_2_0) as c:
                c.set_attribute(uid, attribute_name="Sensitive", attribute_value=True)
        print(uid)
    else:
        with client(args) as c:
            uids = c.locate(attributes=[
                c.attribute_factory.create_attribute(enums.AttributeType.NAME, args.name)
            ])
            for uid in uids:
                c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid)
                print(uid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
