"""Usher against Python's authlib, a widely used OAuth 2.0 / OpenID Connect client.

The test starts the real `usher` binary (USHER_BIN) in a fresh directory, registers a
client and a person through the CLI, and lets authlib do what an application would: the
code flow with PKCE (the person's browser is a requests session that fills in Usher's
login and consent forms), the code exchange, ID token validation against the JWKS
(signature, iss, aud, nonce, at_hash), userinfo, a refresh, and client_credentials.
"""

import html.parser
import json
import os
import subprocess
import tempfile
import urllib.parse

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

USHER_BIN = os.environ.get("USHER_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "usher"))
CALLBACK = "http://127.0.0.1:9/callback"
PASSWORD = "correct horse battery staple"


class Usher:
    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="usher-authlib-")
        self.env = {"PATH": os.environ.get("PATH", ""), "USHER_BIND": "127.0.0.1:0", "USHER_LOG_FORMAT": "json"}
        self.proc = subprocess.Popen([USHER_BIN, "serve"], cwd=self.dir.name, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seen = []
        for line in self.proc.stderr:
            seen.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("message") == "usher is listening":
                self.issuer = event["issuer"]
                break
        else:
            raise RuntimeError("usher did not start:\n" + "".join(seen))
        self.discovery = requests.get(self.issuer + "/.well-known/openid-configuration", timeout=10).json()

    def cli(self, *args, stdin=""):
        run = subprocess.run([USHER_BIN, *args], cwd=self.dir.name, env=self.env, input=stdin,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.dir.cleanup()


@pytest.fixture(scope="module")
def usher():
    server = Usher()
    server.cli("user", "create", "--json", "--username", "alice", "--email", "alice@example.com",
               "--email-verified", "--name", "Alice Liddell", "--password-stdin", stdin=PASSWORD + "\n")
    yield server
    server.stop()


class Forms(html.parser.HTMLParser):
    """The forms of a page: action and hidden inputs."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}})
        elif tag == "input" and a.get("type") == "hidden" and self.forms:
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def submit(browser, base, page, action, **fields):
    parser = Forms()
    parser.feed(page.text)
    form = next(f for f in parser.forms if f["action"].endswith(action))
    data = {**form["fields"], **fields}
    return browser.post(urllib.parse.urljoin(base, form["action"]), data=data, allow_redirects=False, timeout=30)


def sign_in(usher, url):
    """The person's browser: log in and consent; returns the redirect back to the app."""
    browser = requests.Session()
    login = browser.get(url, allow_redirects=False, timeout=30)
    assert login.status_code == 200, login.text
    page = submit(browser, usher.issuer, login, "/authorize/login", username="alice", password=PASSWORD)
    if page.status_code == 200:
        page = submit(browser, usher.issuer, page, "/authorize/consent", decision="approve")
    assert page.status_code == 303, page.text
    return page.headers["Location"]


def test_code_flow_with_pkce_id_token_userinfo_and_refresh(usher):
    registered = usher.cli("client", "create", "--json", "--name", "Shop", "--redirect-uri", CALLBACK,
                           "--grant-type", "authorization_code", "--grant-type", "refresh_token",
                           "--scope", "openid profile email offline_access")
    d = usher.discovery
    client = OAuth2Session(registered["client_id"], registered["client_secret"],
                           scope="openid profile email offline_access", redirect_uri=CALLBACK,
                           code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")
    verifier = generate_token(64)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(d["authorization_endpoint"], code_verifier=verifier,
                                                 nonce=nonce, prompt="consent")
    back = sign_in(usher, url)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
    assert query["iss"] == usher.issuer
    assert query["state"] == state

    token = client.fetch_token(d["token_endpoint"], authorization_response=back, code_verifier=verifier)
    assert token["token_type"] == "Bearer"
    keys = JsonWebKey.import_key_set(requests.get(d["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["id_token"], keys, claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "values": [usher.issuer]},
                                        "aud": {"essential": True, "values": [registered["client_id"]]}},
                        claims_params={"nonce": nonce, "access_token": token["access_token"]})
    claims.validate(leeway=5)
    assert claims["email"] == "alice@example.com"
    assert "at_hash" in claims

    info = client.get(d["userinfo_endpoint"], timeout=10).json()
    assert info["sub"] == claims["sub"]
    assert info["name"] == "Alice Liddell"

    refreshed = client.refresh_token(d["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["access_token"] != token["access_token"]
    again = jwt.decode(refreshed["id_token"], keys)
    assert again["sub"] == claims["sub"]
    assert again["auth_time"] == claims["auth_time"]


def test_client_credentials(usher):
    registered = usher.cli("client", "create", "--json", "--name", "Billing", "--grant-type", "client_credentials",
                           "--auth-method", "client_secret_post",
                           "--scope", "invoices:read", "--audience", "https://api.example.com")
    d = usher.discovery
    service = OAuth2Session(registered["client_id"], registered["client_secret"], scope="invoices:read",
                            token_endpoint_auth_method="client_secret_post")
    token = service.fetch_token(d["token_endpoint"], grant_type="client_credentials",
                                resource="https://api.example.com")
    assert "refresh_token" not in token and "id_token" not in token
    keys = JsonWebKey.import_key_set(requests.get(d["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["access_token"], keys)
    claims.validate(leeway=5)
    assert claims["sub"] == registered["client_id"]
    assert claims["aud"] in ("https://api.example.com", ["https://api.example.com"])
    assert claims.header["typ"] == "at+jwt"
