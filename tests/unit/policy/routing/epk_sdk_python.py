"""EPKs computed by the Python azure-cosmos SDK's own hashing (azure.cosmos.partition_key), for
epk_crosscheck.mjs. Reads one JSON array per line from stdin (the partition-key header spelling),
writes one EPK per line (upper-case hex) or "ERROR <message>".

Usage: python epk_sdk_python.py hash-v1 | hash-v2 | multihash <levels>
"""

import json
import sys

from azure.cosmos.partition_key import PartitionKey


def main() -> int:
    mode = sys.argv[1]
    if mode in ("hash-v1", "hash-v2"):
        pk = PartitionKey(path="/pk", kind="Hash", version=1 if mode == "hash-v1" else 2)
    else:
        levels = int(sys.argv[2])
        pk = PartitionKey(path=[f"/p{k}" for k in range(levels)], kind="MultiHash", version=2)
    out = []
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        try:
            values = json.loads(line)
            epk = pk._get_effective_partition_key_string(values)  # pylint: disable=protected-access
            out.append(str(epk).upper())
        except Exception as e:  # noqa: BLE001 -- any failure is reported, not fatal
            out.append("ERROR " + type(e).__name__ + ": " + str(e).replace("\n", " "))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
