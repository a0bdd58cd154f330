"""A real KMIP server for cosmoseal's kmip KEK tests: PyKMIP's server over mutual TLS.

Usage: server.py --dir DIR --port N --cert PEM --key PEM --ca PEM
Writes DIR/server.conf and DIR/pykmip.db, serves until SIGTERM, and prints "kmip: listening on
127.0.0.1:N" on stdout once the socket is bound (the test waits for that line). Every client must
present a certificate from the CA with the clientAuth extended key usage; its common name is the
owner of the objects it creates (PyKMIP's default operation policy lets only the owner use them).
"""

import argparse
import logging
import os
import signal
import sys

from kmip.services.server import KmipServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    args = parser.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    policies = os.path.join(args.dir, "policies")
    os.makedirs(policies, exist_ok=True)
    conf = os.path.join(args.dir, "server.conf")
    # PyKMIP reads its settings from a file only; an empty path would fall back to /etc/pykmip.
    with open(conf, "w") as f:
        f.write(
            "[server]\n"
            "hostname=127.0.0.1\n"
            f"port={args.port}\n"
            f"certificate_path={args.cert}\n"
            f"key_path={args.key}\n"
            f"ca_path={args.ca}\n"
            "auth_suite=TLS1.2\n"
            f"policy_path={policies}\n"
            "enable_tls_client_auth=True\n"
            "logging_level=INFO\n"
            f"database_path={os.path.join(args.dir, 'pykmip.db')}\n"
        )
    server = KmipServer(
        config_path=conf,
        log_path=os.path.join(args.dir, "server.log"),
    )

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with server:
        print(f"kmip: listening on 127.0.0.1:{args.port}", flush=True)
        try:
            server.serve()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
