# SPDX-License-Identifier: MIT
"""igtoken: a fresh Instagram / Meta Graph API token from igtokend, for Python
apps. Standard library only: copy this file next to your code, or install it.

    from igtoken import get_token, IgtokenError

    try:
        t = get_token("shop-main")      # t.token, t.expires_at, t.appsecret_proof
    except IgtokenError as e:
        print(e.code, e)                # forbidden, no_token, expired, reauth_required,
                                        # unavailable (the daemon is down), ...

Ask for the token each time you need it (it is a local socket call, well under a
millisecond): igtokend replaces it before it expires. The socket is
$IGTOKEND_SOCKET, else /run/igtokend/igtokend.sock; the caller must be one of the
account's `readers`. As a command: python3 igtoken.py ACCOUNT prints the token.
"""
import json
import os
import socket
import sys
import time
from typing import NamedTuple, Optional

DEFAULT_SOCKET = "/run/igtokend/igtokend.sock"
ANSWER_MAX = 1 << 20


class IgtokenError(Exception):
    """An error answer (code: igtokend's error code), or "unavailable" when the
    daemon cannot be reached, or "timeout"."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class Token(NamedTuple):
    token: str
    expires_at: int  # Unix seconds, 0 = never
    appsecret_proof: Optional[str]  # facebook apps: send it with every Graph call


def get_token(account: str, socket_path: Optional[str] = None, timeout: float = 10.0) -> Token:
    path = socket_path or os.environ.get("IGTOKEND_SOCKET") or DEFAULT_SOCKET
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        try:
            s.connect(path)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            raise IgtokenError("unavailable", "igtokend is not running (nothing answers at %s)" % path) from None
        except PermissionError:
            raise IgtokenError("unavailable", "permission denied on %s" % path) from None
        s.sendall((json.dumps({"cmd": "token", "account": account}) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise IgtokenError("timeout", "no answer from igtokend in %g s" % timeout)
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise IgtokenError("timeout", "no answer from igtokend in %g s" % timeout) from None
            if not chunk:
                raise IgtokenError("unavailable", "igtokend closed the connection")
            buf += chunk
            if len(buf) > ANSWER_MAX:
                raise IgtokenError("internal", "the answer is too long")
    finally:
        s.close()
    try:
        ans = json.loads(buf)
    except ValueError:
        raise IgtokenError("internal", "the answer is not JSON") from None
    if not ans.get("ok"):
        raise IgtokenError(str(ans.get("error", "internal")), str(ans.get("message", "")))
    return Token(ans["token"], int(ans["expires_at"]), ans.get("appsecret_proof"))


def main(argv) -> int:
    if len(argv) != 2:
        print("usage: igtoken.py ACCOUNT", file=sys.stderr)
        return 2
    try:
        print(get_token(argv[1]).token)
        return 0
    except IgtokenError as e:
        print("igtoken: %s: %s" % (e.code, e), file=sys.stderr)
        return {"forbidden": 3, "no_token": 4, "expired": 4, "reauth_required": 4, "unavailable": 69}.get(e.code, 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
