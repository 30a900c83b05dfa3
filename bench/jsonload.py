"""The listing baseline: a plain ``json.load`` of every record file of a directory.

``python -m bench.jsonload DIR`` loads ``DIR/*.json`` (dot-files skipped, as catalyst-api's
LoadAll does) and prints how many it loaded. Nothing else: no validation, no output document.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    d = sys.argv[1]
    records = []
    for name in os.listdir(d):
        if name.startswith(".") or not name.endswith(".json"):
            continue
        with open(os.path.join(d, name), "rb") as fh:
            records.append(json.load(fh))
    print(len(records))


if __name__ == "__main__":
    main()
