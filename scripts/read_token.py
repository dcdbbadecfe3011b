"""Waits for the newest email to an address in a Maildir and prints the `token` of its link.

Usage: read_token.py MAILDIR ADDRESS TIMEOUT_SECONDS [NOT_BEFORE_UNIX_TIME]
"""
import email
import email.policy
import pathlib
import re
import sys
import time

maildir, address, timeout = pathlib.Path(sys.argv[1]), sys.argv[2].lower(), float(sys.argv[3])
not_before = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
deadline = time.monotonic() + timeout
while True:
    newest = None
    for path in list((maildir / "new").glob("*")) + list((maildir / "cur").glob("*")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        mtime = path.stat().st_mtime
        if mtime < not_before - 1:
            continue
        if address in str(msg.get("To", "")).lower() and (newest is None or mtime > newest[0]):
            newest = (mtime, msg)
    if newest:
        body = newest[1].get_body(preferencelist=("plain",)).get_content()
        match = re.search(r"token=([A-Za-z0-9_-]+)", body)
        if match:
            print(match.group(1))
            sys.exit(0)
    if time.monotonic() > deadline:
        sys.exit(f"no email with a token reached {address} within {timeout:.0f} s")
    time.sleep(0.5)
