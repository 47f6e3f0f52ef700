"""Print a development token:
`python -m retour_kit.token ROLE [--centres gao,kayes] [--subject S] [--ttl-hours N]`.

Signs with AUTH_JWT_SECRET, for the audience AUTH_AUDIENCE (default retour-api) and the
issuer AUTH_ISSUER when set: the variables the services verify with. Backs
`make token ROLE=registrar CENTRE=gao`.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import timedelta

from retour_kit.auth import API_AUDIENCE, Role, issue_dev_token, parse_centres
from retour_kit.settings import MIN_JWT_SECRET_LENGTH


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retour_kit.token", description="Print an HS256 token for local use."
    )
    parser.add_argument("role", choices=[role.value for role in Role])
    parser.add_argument("--subject", help="the token's sub claim (default: dev-<role>)")
    parser.add_argument("--ttl-hours", type=float, default=8.0, help="lifetime (default 8)")
    parser.add_argument(
        "--centres",
        default="",
        help="where the holder works, comma-separated (default: every centre)",
    )
    args = parser.parse_args(argv)
    try:
        centres = parse_centres(args.centres) if args.centres.strip() else None
    except ValueError as unknown:
        parser.error(str(unknown))

    secret = os.environ.get("AUTH_JWT_SECRET", "")
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        problem = "is not set" if not secret else f"is shorter than {MIN_JWT_SECRET_LENGTH} chars"
        sys.stderr.write(
            f"AUTH_JWT_SECRET {problem}: export the secret the services run with "
            "(the local stack keeps it in .local/env)\n"
        )
        return 2
    token = issue_dev_token(
        secret,
        args.role,
        subject=args.subject,
        ttl=timedelta(hours=args.ttl_hours),
        audience=os.environ.get("AUTH_AUDIENCE") or API_AUDIENCE,
        issuer=os.environ.get("AUTH_ISSUER") or None,
        centres=centres,
    )
    sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
