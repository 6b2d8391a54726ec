"""`python -m review`: the moderators' review app.

serve                 the web app and its background loop (archive → queue, decisions → feedback)
follow                the background loop alone
add-user NAME         add or replace an account (password from REVIEW_PASSWORD or standard input)
"""

import argparse
import contextlib
import os
import sys
import threading

from review.service import app_for, background, store_for
from review.settings import ReviewSettings
from review.users import Account, UserBook, hash_password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m review", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="the web app and its background loop")
    serve.add_argument("--web-only", action="store_true", help="the web app alone (the loop runs elsewhere)")
    commands.add_parser("follow", help="the background loop alone")
    add = commands.add_parser("add-user", help="add or replace an account")
    add.add_argument("username")
    add.add_argument("--role", choices=("moderator", "admin"), default="moderator")
    add.add_argument("--channels", default="", help="comma-separated channel ids")
    args = parser.parse_args(argv)
    settings = ReviewSettings()

    if args.command == "add-user":
        password = os.environ.get("REVIEW_PASSWORD") or sys.stdin.readline().rstrip("\n")
        if len(password) < 12:
            print("error: a password needs at least 12 characters", file=sys.stderr)
            return 2
        channels = tuple(c for c in args.channels.split(",") if c)
        account = Account(
            username=args.username, password_hash=hash_password(password), role=args.role, channels=channels
        )
        UserBook.load(settings.users_file).with_account(account).save(settings.users_file)
        print(f"{args.username}: {args.role} of {', '.join(channels) or 'every channel'}")
        return 0

    store = store_for(settings, create=True, wait_s=60)
    stop = threading.Event()
    if args.command == "follow":
        with contextlib.suppress(KeyboardInterrupt):
            background(settings, store, stop)
        return 0

    import uvicorn  # noqa: PLC0415 - the server only when serving

    if not settings.session_secret.get_secret_value():
        print("error: set REVIEW_SESSION_SECRET (32+ characters) to sign sessions", file=sys.stderr)
        return 2
    if not args.web_only:
        worker = threading.Thread(target=background, args=(settings, store, stop), daemon=True)
        worker.start()
    try:
        uvicorn.run(app_for(settings, store), host=settings.host, port=settings.port, log_level="warning")
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
