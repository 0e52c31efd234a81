"""``python -m cdw.gateway``: ``cdw gateway`` without loading the rest of the command line
(the gateway process then holds only what it uses)."""

from __future__ import annotations

import argparse
import sys

from cdw.errors import CdwError
from cdw.gateway.service import run

parser = argparse.ArgumentParser(prog="python -m cdw.gateway", description=__doc__)
parser.add_argument("--host")
parser.add_argument("--port", type=int)
parser.add_argument("--status-port", type=int)
args = parser.parse_args()
try:
    run(
        host=args.host,
        port=args.port,
        status_port=args.status_port,
        echo=lambda line: print(line, flush=True),
    )
except CdwError as exc:
    print(f"{exc.zh} / {exc.en}", file=sys.stderr)
    sys.exit(1)
