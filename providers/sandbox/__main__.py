"""`python -m providers.sandbox [--port N]`: serve the sandbox until Ctrl+C."""

from __future__ import annotations

import argparse

from providers.sandbox.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m providers.sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-demo", action="store_true", help="start without demo customers")
    args = parser.parse_args(argv)
    serve(args.port, host=args.host, demo=not args.no_demo)


if __name__ == "__main__":
    main()
