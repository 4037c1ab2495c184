#!/usr/bin/env python3
"""A local HTTPS simulator of Meta's token endpoints, for tests and the demo.

    metasim.py --dir DIR [--port N] [--control-port N]

Makes a throwaway CA and a server certificate for 127.0.0.1 with openssl (kept
in DIR: ca.pem is what igtokend's `ca_file` should name), then serves:

  Instagram (graph.instagram.com / api.instagram.com):
    GET  /refresh_access_token?grant_type=ig_refresh_token&access_token=T
    GET  /access_token?grant_type=ig_exchange_token&client_secret=S&access_token=T
    GET  /me?fields=...&access_token=T
    POST /oauth/access_token   (authorization code)
  Facebook (graph.facebook.com/vX.Y):
    GET  /vX.Y/oauth/access_token   (fb_exchange_token, or code)
    GET  /vX.Y/debug_token?input_token=T&access_token=APPID|SECRET
    GET  /vX.Y/me?access_token=T&appsecret_proof=P

How close each answer is to Meta's is marked where it is made:
  [D] documented by Meta (developers.facebook.com, stored copies 2024-2026),
  [O] observed by others (SDK issues, users' reports; ../shared/META-API.md section 8),
  [A] our assumption: Meta documents nothing, nobody reported it; kept plausible.

A plain-HTTP control API on 127.0.0.1 (tests only; igtokend never talks to it):
    POST /token     {"token", "kind": "long"|"short"|"page"|"system_user", "lifetime": s
                     (0: never), "age": s, "user_id", "scopes": [..], "app": "ig"|"fb"}
    POST /script    {"path": "/refresh_access_token", "token": T (optional),
                     "times": n, "status": 500, "body": "...", "json": {...},
                     "headers": {...}, "action": "hang"|"reset"|"garbage"|"huge"|"slow",
                     "delay": s}
    POST /config    {"lifetime": s, "min_age": s, "app_secret": "...", "app_id": "...",
                     "fb_app_secret": ..., "fb_app_id": ..., "require_proof": bool,
                     "usage": {header: value}, "keep_old": bool, "code": {...},
                     "latency": s (every answer of Meta's endpoints waits this long)}
    POST /code      {"code": C, "token_kind": "short", "user_id": ...}
    GET  /log       every request received: [{"t", "method", "path", "query", "form"}]
    GET  /count?path=P  {"count": requests received for path P}
    POST /tokens/bulk {"count", "lifetime", "age", "user_ids": bool} -> {"tokens": [...]}
    POST /revoke    {"token", "subcode": 460 (default) | 459 | 464 | 492 | ..., "message"}
    POST /restore   {"token"}: a checkpointed user cleared it on Meta's side
    POST /script/clear
    POST /reset
Tokens and secrets in the log are real test values: it is a test fixture.
"""
import argparse
import hashlib
import hmac
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.RLock()
STATE = {}


def reset_state():
    STATE.clear()
    STATE.update({
        "tokens": {},      # token -> {kind, issued, expires (0 never), user_id, scopes, valid, app}
        "scripts": [],     # scripted answers, first match wins
        "log": [],
        "codes": {},       # authorization code -> {used, user_id, scopes, app}
        "config": {
            "lifetime": 5184000,
            "short_lifetime": 3600,
            "min_age": 86400,
            "app_id": "1234567890",
            "app_secret": "demo-app-secret",
            "fb_app_id": "99887766",
            "fb_app_secret": "fb-app-secret",
            "require_proof": True,
            "usage": {},
            "keep_old": True,
            "latency": 0,
            "redirect_uri": None,
            # X-Business-Use-Case-Usage entries of type instagram keyed by a user's id:
            # {user_id: {"call_count": %, "total_time": %, "total_cputime": %, "estimated_time_to_regain_access": min}}
            "buc_users": {},
        },
    })


reset_state()


def new_token(prefix="IGAA"):
    return prefix + secrets.token_urlsafe(48).replace("-", "A").replace("_", "B")


def err(code, subcode=None, message="error", status=400, transient=None, typ="OAuthException"):
    e = {"message": message, "type": typ, "code": code, "fbtrace_id": "Sim" + secrets.token_hex(6)}
    if subcode is not None:
        e["error_subcode"] = subcode
    if transient is not None:
        e["is_transient"] = transient
    return status, {"error": e}


def make_certs(d):
    ca_key, ca, key, cert = (os.path.join(d, n) for n in ("ca.key", "ca.pem", "server.key", "server.pem"))
    if os.path.exists(cert) and os.path.exists(ca):
        return cert, key, ca
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "3", "-subj", "/CN=igtokend test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    csr = os.path.join(d, "server.csr")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "3", "-extfile", ext)
    return cert, key, ca


class MetaHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "metasim/1"
    # an answer leaves in one write, as Meta's do: written unbuffered, its head and
    # body went out as two TLS records, and the body waited for the client's
    # delayed ACK (Nagle): 40 ms on every request
    wbufsize = -1

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, headers=None, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        with LOCK:
            usage = dict(STATE["config"]["usage"])
        for k, v in {**usage, **(headers or {})}.items():
            self.send_header(k, v if isinstance(v, str) else json.dumps(v))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_any("GET", {})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode(errors="replace") if n else ""
        self.handle_any("POST", dict(urllib.parse.parse_qsl(body)))

    def handle_any(self, method, form):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        tok = q.get("access_token") or q.get("input_token") or q.get("fb_exchange_token") or form.get("code")
        with LOCK:
            STATE["log"].append({"t": time.time(), "method": method, "path": u.path, "query": q, "form": form})
            script = None
            for s in STATE["scripts"]:
                if s.get("path") and s["path"] != u.path:
                    continue
                if s.get("token") and s["token"] != tok:
                    continue
                if s.get("times", 1) <= 0:
                    continue
                s["times"] = s.get("times", 1) - 1
                script = dict(s)
                break
        with LOCK:
            latency = STATE["config"]["latency"]
        time.sleep(latency)
        if script:
            return self.run_script(script, tok or "")
        ans = route(method, u.path, q, form)
        self.reply(ans[0], ans[1], ans[2] if len(ans) > 2 else None)

    def run_script(self, s, tok=""):
        # "{TOKEN}" in a scripted body becomes the token the request carried: Meta's
        # messages may quote it, and igtokend must not pass it on
        for k in ("json", "raw"):
            if k in s:
                s[k] = json.loads(json.dumps(s[k]).replace("{TOKEN}", tok)) if k == "json" else s[k].replace("{TOKEN}", tok)
        time.sleep(s.get("delay", 0))
        action = s.get("action")
        if action == "hang":
            time.sleep(s.get("hang", 3600))
            return
        if action == "reset":
            # half an answer, then the connection is cut
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\nContent-Type: application/json\r\n\r\n{\"access_to")
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)  # the file objects keep it open otherwise
            self.close_connection = True
            return
        if action == "garbage":
            return self.reply(s.get("status", 200), None, s.get("headers"), raw=b"\x00\xffnot json at all<html>")
        if action == "huge":
            return self.reply(200, None, s.get("headers"), raw=b"{\"access_token\":\"" + b"A" * (8 * 1024 * 1024) + b"\"}")
        if action == "passthrough":
            u = urllib.parse.urlsplit(self.path)
            ans = route("GET", u.path, dict(urllib.parse.parse_qsl(u.query)), {})
            return self.reply(ans[0], ans[1], {**(ans[2] if len(ans) > 2 and ans[2] else {}), **(s.get("headers") or {})})
        if "raw" in s:
            return self.reply(s.get("status", 200), None, s.get("headers"), raw=s["raw"].encode())
        return self.reply(s.get("status", 200), s.get("json", {}), s.get("headers"))


def token_info(tok):
    info = STATE["tokens"].get(tok)
    if not info or not info["valid"]:
        return None, err(190, 467, "Invalid OAuth access token - Cannot parse access token")
    if info["expires"] and time.time() >= info["expires"]:
        return None, err(190, 463, "Error validating access token: Session has expired on Monday, "
                                   "01-Dec-25 11:00:00 PST. The current time is Tuesday, 02-Dec-25 09:00:55 PST.")
    if info.get("revoked"):
        sub = info.get("revoked_subcode", 460)
        return None, err(190, sub, info.get("revoked_message") or REVOKED_MESSAGES.get(sub, "Error validating access token"))
    return info, None


# [D] subcode names (Graph API error reference); the exact English texts are [O]/[A]
REVOKED_MESSAGES = {
    458: "Error validating access token: The user has not authorized application.",
    459: "Error validating access token: You cannot access the app till you log in to www.facebook.com "
         "and follow the instructions given.",
    460: "Error validating access token: The session has been invalidated because the user changed "
         "their password or Facebook has changed the session for security reasons.",
    464: "Error validating access token: Sessions for the user are not allowed because the user is "
         "not a confirmed user.",
    492: "Error validating access token: The user does not have a role on this Page.",
}

# [O] instafeed.js 654: what a Basic Display token (IGQV..., IGQW...) gets since 2024-12-04
BASIC_DISPLAY_GONE = (400, {"error": {"message": "Unsupported request - method type: get",
                                      "type": "IGApiException", "code": 100,
                                      "fbtrace_id": "SimIGQV"}})


def basic_display(tok):
    return tok.startswith("IGQV") or tok.startswith("IGQW")


def fb_credentials(q):
    """[O] a wrong client_id is 101, a wrong client_secret code 1 (php-graph-sdk 538)."""
    cfg = STATE["config"]
    if q.get("client_id") != cfg["fb_app_id"]:
        return err(101, None, "Error validating application. Invalid application ID.")
    if q.get("client_secret") != cfg["fb_app_secret"]:
        return err(1, None, "Error validating client secret.")
    return None


def ig_buc_headers(info):
    """[D] the header's keys are the business object's id; [O] for Instagram Login
    that is the app user's Instagram id (counted per app and app user)."""
    if not info:
        return None
    figures = STATE["config"]["buc_users"].get(str(info["user_id"]))
    if not figures:
        return None
    entry = dict({"type": "instagram", "call_count": 0, "total_cputime": 0, "total_time": 0,
                  "estimated_time_to_regain_access": 0}, **figures)
    return {"X-Business-Use-Case-Usage": {str(info["user_id"]): [entry]}}


def issue(kind, user_id, scopes, app, lifetime=None, expires=None):
    cfg = STATE["config"]
    t = new_token("EAA" if app == "fb" else "IGAA")
    now = time.time()
    life = lifetime if lifetime is not None else (cfg["short_lifetime"] if kind == "short" else cfg["lifetime"])
    if expires is None:
        expires = 0 if kind == "page" else now + life
    STATE["tokens"][t] = {"kind": kind, "issued": now, "expires": expires,
                          "user_id": user_id, "scopes": scopes, "valid": True, "app": app}
    return t, int(expires - now) if expires else 0


def check_proof(q, tok):
    cfg = STATE["config"]
    proof = q.get("appsecret_proof")
    want = hmac.new(cfg["fb_app_secret"].encode(), tok.encode(), hashlib.sha256).hexdigest()
    if proof is None:
        if cfg["require_proof"]:
            return err(100, None, "API calls from the server require an appsecret_proof argument", typ="GraphMethodException")
        return None
    if not hmac.compare_digest(proof, want):
        return err(100, None, "Invalid appsecret_proof provided in the API argument", typ="GraphMethodException")
    return None


def route(method, path, q, form):
    with LOCK:
        cfg = STATE["config"]
        now = time.time()
        if path == "/refresh_access_token":
            if method != "GET":
                return err(100, None, "Unsupported request - method type: post")
            if q.get("grant_type") != "ig_refresh_token":
                return err(100, None, "Invalid grant_type")
            if basic_display(q.get("access_token", "")):
                return BASIC_DISPLAY_GONE
            info, e = token_info(q.get("access_token", ""))
            if e:
                return e
            if info["kind"] != "long":
                # [A] refreshing a short-lived token is undocumented; exchanging it is [D]
                return err(100, None, "Unsupported token type for refresh")
            if now - info["issued"] < cfg["min_age"]:
                # [A] "at least 24 hours old" is [D]; Meta's answer to a younger token is not
                return err(100, None, "Tokens can be refreshed only once they are 24 hours old")
            t, life = issue("long", info["user_id"], info["scopes"], "ig")  # [D] 60 days from now
            STATE["tokens"][t]["refreshed_from"] = q["access_token"]  # for tests: double refreshes
            if not cfg["keep_old"]:
                info["valid"] = False
            return 200, {"access_token": t, "token_type": "bearer", "expires_in": life}, ig_buc_headers(info)
        if path == "/access_token":
            if q.get("grant_type") != "ig_exchange_token":
                return err(100, None, "Invalid grant_type")
            if q.get("client_secret") != cfg["app_secret"]:
                return err(1, None, "Error validating client secret.")  # [O] as on graph.facebook.com
            info, e = token_info(q.get("access_token", ""))
            if e:
                return e
            if info["kind"] != "short":
                return err(100, None, "Only short-lived tokens can be exchanged")  # [A]
            t, life = issue("long", info["user_id"], info["scopes"], "ig")  # [D]
            return 200, {"access_token": t, "token_type": "bearer", "expires_in": life}
        if path == "/me":
            if basic_display(q.get("access_token", "")):
                return BASIC_DISPLAY_GONE
            info, e = token_info(q.get("access_token", ""))
            if e:
                return e
            # [D] fields=user_id,username (Instagram API with Instagram Login); id is app-scoped
            fields = (q.get("fields") or "id").split(",")
            out = {"id": "9" + info["user_id"][1:]}
            if "user_id" in fields:
                out["user_id"] = info["user_id"]
            if "username" in fields:
                out["username"] = info.get("username") or "sim_user_" + info["user_id"][-4:]
            return 200, out, ig_buc_headers(info)
        if path == "/oauth/access_token":
            if method != "POST":
                return err(100, None, "Unsupported get request")
            if form.get("client_id") != cfg["app_id"]:
                return err(101, None, "Error validating application. Invalid application ID.")
            if form.get("client_secret") != cfg["app_secret"]:
                return err(1, None, "Error validating client secret.")  # [O]
            if form.get("grant_type") != "authorization_code":
                return err(100, None, "Invalid grant_type")
            return code_exchange(form.get("code", ""), form.get("redirect_uri"), "ig", flat=cfg.get("flat", True))
        parts = path.split("/")
        if len(parts) >= 3 and parts[1].startswith("v"):
            sub = "/" + "/".join(parts[2:])
            if sub == "/oauth/access_token":
                e = fb_credentials(q)
                if e:
                    return e
                if q.get("grant_type") == "fb_exchange_token":
                    info, e = token_info(q.get("fb_exchange_token", ""))
                    if e:
                        return e
                    sixty = q.get("set_token_expires_in_60_days") == "true"
                    if info["kind"] == "short":
                        # [D] short-lived -> long-lived, about 60 days
                        t, life = issue("long", info["user_id"], info["scopes"], "fb")
                        return 200, {"access_token": t, "token_type": "bearer", "expires_in": life}
                    if info["kind"] == "system_user" and sixty and info["expires"]:
                        # [D] an expiring system-user token is renewed for 60 days
                        t, life = issue("system_user", info["user_id"], info["scopes"], "fb")
                        return 200, {"access_token": t, "token_type": "bearer", "expires_in": life}
                    if cfg.get("fb_extend_user") and info["kind"] == "long":
                        # the first version's assumption, for comparison only
                        t, life = issue("long", info["user_id"], info["scopes"], "fb")
                        return 200, {"access_token": t, "token_type": "bearer", "expires_in": life}
                    # [O] facebook-node-sdk 68: a long-lived token comes back with the same expiry
                    t, left = issue(info["kind"], info["user_id"], info["scopes"], "fb",
                                    expires=info["expires"])
                    ans = {"access_token": t, "token_type": "bearer"}
                    if left:
                        ans["expires_in"] = max(1, left)
                    return 200, ans
                return code_exchange(q.get("code", ""), q.get("redirect_uri"), "fb", flat=True)
            if sub == "/debug_token":
                if q.get("access_token") != cfg["fb_app_id"] + "|" + cfg["fb_app_secret"]:
                    # [O] a top-level error is about the app token (react-native-firebase 1621)
                    return err(190, None, "Invalid OAuth access token signature.")
                if "appsecret_proof" in q:
                    return err(100, None, "appsecret_proof is not for app tokens")  # [A]
                tok = q.get("input_token", "")
                info = STATE["tokens"].get(tok)
                if not info:
                    return 200, {"data": {"is_valid": False, "error": {
                        "code": 190, "message": "Invalid OAuth access token - Cannot parse access token"}}}
                expired = info["expires"] and now >= info["expires"]
                valid = info["valid"] and not info.get("revoked") and not expired
                never = info["kind"] in ("page", "system_user") and not info["expires"]
                typ = {"page": "PAGE", "system_user": "SYSTEM_USER"}.get(info["kind"], "USER")
                d = {"app_id": cfg["fb_app_id"], "type": typ, "application": "sim", "is_valid": valid,
                     "expires_at": int(info["expires"]),
                     # [O] 0 for never-expiring system-user tokens
                     "data_access_expires_at": 0 if never and typ == "SYSTEM_USER" else int(info["issued"] + 90 * 86400),
                     "scopes": info["scopes"], "user_id": info["user_id"]}
                if info.get("issued"):
                    d["issued_at"] = int(info["issued"])
                if not valid:
                    # [D] the inspected token is judged inside data, with code and subcode
                    _, e = token_info(tok)
                    if e:
                        ee = e[1]["error"]
                        d["error"] = {"code": ee["code"], "message": ee["message"]}
                        if "error_subcode" in ee:
                            d["error"]["subcode"] = ee["error_subcode"]
                return 200, {"data": d}
            if sub == "/me":
                tok = q.get("access_token", "")
                e = check_proof(q, tok)  # [D] appsecret_proof
                if e:
                    return e
                info, e = token_info(tok)
                if e:
                    return e
                return 200, {"id": info["user_id"], "name": "Sim User"}
        return err(803, None, "Unknown path " + path, status=404)


def code_exchange(code, redirect_uri, app, flat):
    code = code.rstrip("#_")
    c = STATE["codes"].get(code)
    if not c or c["used"]:
        return err(100, 36009 if c else None, "This authorization code has been used" if c else "Invalid verification code format.")
    want = STATE["config"].get("redirect_uri")
    if want and redirect_uri != want:
        return err(100, None, "Error validating verification code. Please make sure your redirect_uri is identical")
    c["used"] = True
    t, life = issue("short", c["user_id"], c["scopes"], app)
    if app == "fb":
        return 200, {"access_token": t, "token_type": "bearer", "expires_in": life}
    grant = {"access_token": t, "user_id": int(c["user_id"]), "permissions": c["scopes"]}
    if not flat:
        grant["permissions"] = ",".join(c["scopes"])
        grant["user_id"] = c["user_id"]
        return 200, {"data": [grant]}
    return 200, grant


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, obj, status=200):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/log":
            with LOCK:
                return self.send_json(STATE["log"])
        if self.path == "/tokens":
            with LOCK:
                return self.send_json(STATE["tokens"])
        if self.path.startswith("/count?path="):  # requests to one path, without the whole log
            path = urllib.parse.unquote(self.path.split("=", 1)[1])
            with LOCK:
                return self.send_json({"count": sum(1 for e in STATE["log"] if e["path"] == path)})
        self.send_json({"error": "unknown"}, 404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(n) or b"{}")
        with LOCK:
            if self.path == "/reset":
                reset_state()
                return self.send_json({"ok": True})
            if self.path == "/config":
                STATE["config"].update(req)
                return self.send_json({"ok": True})
            if self.path == "/script":
                STATE["scripts"].append(req)
                return self.send_json({"ok": True})
            if self.path == "/script/clear":
                STATE["scripts"].clear()
                return self.send_json({"ok": True})
            if self.path == "/code":
                STATE["codes"][req["code"]] = {"used": False, "user_id": str(req.get("user_id", "17841405793187218")),
                                               "scopes": req.get("scopes", ["instagram_business_basic"])}
                return self.send_json({"ok": True})
            if self.path == "/token":
                tok = req.get("token") or new_token("EAA" if req.get("app") == "fb" else "IGAA")
                kind = req.get("kind", "long")
                now = time.time()
                age = req.get("age", 0)
                life = req.get("lifetime", STATE["config"]["lifetime"])
                STATE["tokens"][tok] = {"kind": kind, "issued": now - age,
                                        "expires": 0 if kind == "page" or life == 0 else now - age + life,
                                        "user_id": str(req.get("user_id", "17841405793187218")),
                                        "scopes": req.get("scopes", ["instagram_business_basic"]),
                                        "valid": True, "app": req.get("app", "ig"),
                                        "username": req.get("username")}
                return self.send_json({"ok": True, "token": tok})
            if self.path == "/tokens/bulk":
                out = []
                now = time.time()
                for i in range(req["count"]):
                    tok = new_token("IGAA")
                    STATE["tokens"][tok] = {"kind": "long", "issued": now - req.get("age", 0),
                                            "expires": now - req.get("age", 0) + req.get("lifetime", 5184000),
                                            "user_id": str(17841400000000000 + i) if req.get("user_ids") else "17841405793187218",
                                            "scopes": ["instagram_business_basic"],
                                            "valid": True, "app": "ig"}
                    out.append(tok)
                return self.send_json({"ok": True, "tokens": out})
            if self.path == "/revoke":
                info = STATE["tokens"].get(req["token"])
                if info:
                    info["revoked"] = True
                    info["revoked_subcode"] = req.get("subcode", 460)
                    info["revoked_message"] = req.get("message")
                return self.send_json({"ok": True})
            if self.path == "/restore":
                info = STATE["tokens"].get(req["token"])
                if info:
                    info["revoked"] = False
                return self.send_json({"ok": True})
        self.send_json({"error": "unknown"}, 404)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--ready-file", help="write {port, control_port, ca} here once serving")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    cert, key, ca = make_certs(a.dir)
    httpd = ThreadingHTTPServer(("127.0.0.1", a.port), MetaHandler)
    httpd.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    ctl = ThreadingHTTPServer(("127.0.0.1", a.control_port), ControlHandler)
    ctl.daemon_threads = True
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    info = {"port": httpd.server_address[1], "control_port": ctl.server_address[1], "ca": ca}
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.rename(tmp, a.ready_file)
    print(json.dumps(info), flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
