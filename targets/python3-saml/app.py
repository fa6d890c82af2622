"""A small SAML service provider around OneLogin's python3-saml, written the way the library's
README and its Flask demo (demo-flask/index.py) suggest, for SAML Harness
(targets/python3-saml.toml). See README.md beside this file for every option and why.

Run: IDP_METADATA_URL=http://127.0.0.1:8180/metadata .venv/bin/python app.py
"""

import copy
import hmac
import ipaddress
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

from flask import Flask, jsonify, make_response, redirect, request, session
from werkzeug.serving import make_server

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings


def log(message):
    print(message, file=sys.stderr, flush=True)


def fail(message):
    log("python3-saml app: " + message)
    sys.exit(2)


BIND = os.environ.get("BIND", "127.0.0.1")
try:
    PORT = int(os.environ.get("PORT", "8680"))
except ValueError:
    fail("PORT must be a number")
PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://%s:%d" % (BIND, PORT)).rstrip("/")
IDP_METADATA_URL = os.environ.get("IDP_METADATA_URL", "")
ADMIN_TOKEN = os.environ.get("ADMIN_TOKEN", "")
if not IDP_METADATA_URL:
    fail("IDP_METADATA_URL is required (the IdP's metadata URL)")

ENTITY_ID = PUBLIC_URL + "/saml/metadata"
ACS_URL = PUBLIC_URL + "/saml/acs"
SLS_URL = PUBLIC_URL + "/saml/sls"
HOME_URL = PUBLIC_URL + "/me"


def make_sp_key_pair():
    """An RSA-2048 key and a self-signed certificate for the SP (signs its logout messages),
    made with openssl as python3-saml's README shows; a real deployment keeps them in
    saml/certs/sp.key and sp.crt."""
    with tempfile.TemporaryDirectory() as folder:
        key, crt = os.path.join(folder, "sp.key"), os.path.join(folder, "sp.crt")
        try:
            subprocess.run(
                ["openssl", "req", "-new", "-x509", "-days", "3652", "-nodes",
                 "-newkey", "rsa:2048", "-subj", "/CN=python3-saml target app",
                 "-keyout", key, "-out", crt],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
        except (OSError, subprocess.CalledProcessError) as e:
            fail("could not make the SP key with openssl: %s" % e)
        with open(key) as k, open(crt) as c:
            return k.read(), c.read()


def read_idp_metadata(url, patience_seconds=20):
    """OneLogin_Saml2_IdPMetadataParser.parse_remote, retried while the IdP starts."""
    deadline = time.monotonic() + patience_seconds
    while True:
        try:
            return OneLogin_Saml2_IdPMetadataParser.parse_remote(url, timeout=5)
        except Exception as e:  # urllib errors, or "Not valid IdP XML found from URL"
            if time.monotonic() >= deadline:
                raise RuntimeError("cannot read the IdP metadata at %s: %s" % (url, e))
            time.sleep(0.5)


SP_KEY, SP_CERT = make_sp_key_pair()

# The settings of python3-saml's README (settings.json and advanced_settings.json as one dict),
# with the IdP part read from its metadata (merge_settings). `security` sets only what the SP
# signs; every check keeps the library's default (README.md: "python3-saml settings").
BASE_SETTINGS = {
    "strict": True,
    "debug": True,
    "sp": {
        "entityId": ENTITY_ID,
        "assertionConsumerService": {
            "url": ACS_URL,
            "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST,
        },
        "singleLogoutService": {
            "url": SLS_URL,
            "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
        },
        "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_EMAIL_ADDRESS,
        "x509cert": SP_CERT,
        "privateKey": SP_KEY,
    },
    "security": {
        "logoutRequestSigned": True,
        "logoutResponseSigned": True,
    },
}

# What the admin hooks may change; `reset` goes back to START.
START = {
    "want_assertions_signed": None,   # None: the library's default (False)
    "want_messages_signed": None,     # None: the library's default (False)
    "identity_attribute": None,       # None: the email is the NameID
    "requested_authn_context": None,  # None: the library's default (True: requested, not checked)
    "idp_metadata_url": IDP_METADATA_URL,
}

_lock = threading.Lock()
_state = {"options": dict(START), "idp": {}, "settings": None}
_idp_cache = {}


def idp_data(url):
    if url not in _idp_cache:
        _idp_cache[url] = read_idp_metadata(url)
    return _idp_cache[url]


def build_settings(options):
    settings = OneLogin_Saml2_IdPMetadataParser.merge_settings(BASE_SETTINGS, idp_data(options["idp_metadata_url"]))
    security = settings.setdefault("security", {})
    if options["want_assertions_signed"] is not None:
        security["wantAssertionsSigned"] = options["want_assertions_signed"]
    if options["want_messages_signed"] is not None:
        security["wantMessagesSigned"] = options["want_messages_signed"]
    if options["requested_authn_context"] is not None:
        security["requestedAuthnContext"] = list(options["requested_authn_context"])
        security["failOnAuthnContextMismatch"] = True
    # Validates the whole dict now (an error here is a configuration error, not a request's).
    OneLogin_Saml2_Settings(copy.deepcopy(settings))
    return settings


def apply(options):
    settings = build_settings(options)
    with _lock:
        _state["options"] = options
        _state["settings"] = settings


def current():
    with _lock:
        return copy.deepcopy(_state["settings"]), dict(_state["options"])


try:
    apply(dict(START))
except Exception as e:
    fail(str(e))


app = Flask(__name__)
app.config["SECRET_KEY"] = os.urandom(32)


def prepare_flask_request():
    """demo-flask's prepare_flask_request."""
    return {
        "https": "on" if request.scheme == "https" else "off",
        "http_host": request.host,
        "script_name": request.path,
        "get_data": request.args.copy(),
        "post_data": request.form.copy(),
    }


def init_saml_auth(req):
    settings, options = current()
    return OneLogin_Saml2_Auth(req, old_settings=settings), options


def refused(errors, reason, status=403):
    log("refused: %s: %s" % (", ".join(errors), reason))
    return make_response(jsonify(error="refused", errors=errors, reason=reason), status)


def trusted_local_url(url):
    """The README: before redirecting to a RelayState, confirm it is a trusted URL."""
    try:
        parts, ours = urlsplit(url), urlsplit(PUBLIC_URL)
    except ValueError:
        return False
    return parts.scheme == ours.scheme and parts.netloc == ours.netloc and parts.path.startswith("/")


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/")
def index():
    return (
        "<!doctype html><title>python3-saml target</title>"
        "<form action=/login><label>Email <input name=email></label> <button>Sign in</button></form>"
    )


@app.get("/saml/metadata")
def metadata():
    settings, _ = current()
    saml_settings = OneLogin_Saml2_Settings(settings, sp_validation_only=True)
    xml = saml_settings.get_sp_metadata()
    errors = saml_settings.validate_metadata(xml)
    if errors:
        return make_response(", ".join(errors), 500)
    response = make_response(xml, 200)
    response.headers["Content-Type"] = "text/xml"
    return response


@app.get("/login")
def login():
    # The typed email is not kept: like a typical single-IdP app, the IdP decides who signs in.
    auth, _ = init_saml_auth(prepare_flask_request())
    # An application asks for a fresh authentication (before a sensitive action) or for a
    # login without interaction through the library's own arguments.
    url = auth.login(
        return_to=HOME_URL,
        force_authn=request.args.get("force_authn") == "1",
        is_passive=request.args.get("passive") == "1",
    )
    # demo-flask: "If AuthNRequest ID need to be stored in order to later validate it".
    session["AuthNRequestID"] = auth.get_last_request_id()
    return redirect(url)


@app.post("/saml/acs")
def acs():
    req = prepare_flask_request()
    auth, options = init_saml_auth(req)
    request_id = session.get("AuthNRequestID")
    try:
        auth.process_response(request_id=request_id)
    except Exception as e:  # no SAMLResponse, or one the library cannot even parse
        return refused(["invalid_response"], str(e) or e.__class__.__name__)
    errors = auth.get_errors()
    if errors:
        return refused(errors, auth.get_last_error_reason() or ", ".join(errors))
    if not auth.is_authenticated():
        return refused(["not_authenticated"], "Not authenticated")

    attributes = auth.get_attributes()
    name_id = auth.get_nameid()
    attribute = options["identity_attribute"]
    if attribute is None:
        email = name_id
    else:
        values = attributes.get(attribute) or []
        if not values or not values[0]:
            return refused(["identity_missing"], "the response has no %s attribute" % attribute)
        email = values[0]
    if not email:
        return refused(["identity_missing"], "the response names nobody")

    session.pop("AuthNRequestID", None)
    session["samlUserdata"] = attributes
    session["samlNameId"] = name_id
    session["samlNameIdFormat"] = auth.get_nameid_format()
    session["samlNameIdNameQualifier"] = auth.get_nameid_nq()
    session["samlNameIdSPNameQualifier"] = auth.get_nameid_spnq()
    session["samlSessionIndex"] = auth.get_session_index()
    session["email"] = email
    log("signed in %s (NameID %s, format %s)" % (email, name_id, auth.get_nameid_format()))

    relay_state = request.form.get("RelayState")
    if relay_state and trusted_local_url(relay_state):
        return redirect(auth.redirect_to(relay_state))
    return redirect(HOME_URL)


@app.get("/me")
def me():
    if "email" not in session:
        return make_response(jsonify(error="not_signed_in"), 401)
    return jsonify(
        email=session["email"],
        name_id=session.get("samlNameId"),
        name_id_format=session.get("samlNameIdFormat"),
        session_index=session.get("samlSessionIndex"),
        attributes=session.get("samlUserdata", {}),
        method="sso",
    )


@app.route("/logout", methods=["GET", "POST"])
def local_logout():
    session.clear()
    return redirect("/", code=303)


@app.route("/saml/logout", methods=["GET", "POST"])
def single_logout():
    """demo-flask's `slo`: a LogoutRequest for the session's NameID and SessionIndex. The
    session ends when the IdP's LogoutResponse comes back to /saml/sls."""
    if "email" not in session:
        return redirect("/", code=303)
    auth, _ = init_saml_auth(prepare_flask_request())
    url = auth.logout(
        return_to=PUBLIC_URL + "/",
        name_id=session.get("samlNameId"),
        session_index=session.get("samlSessionIndex"),
        nq=session.get("samlNameIdNameQualifier"),
        name_id_format=session.get("samlNameIdFormat"),
        spnq=session.get("samlNameIdSPNameQualifier"),
    )
    session["LogoutRequestID"] = auth.get_last_request_id()
    return redirect(url)


@app.get("/saml/sls")
def sls():
    """demo-flask's `sls`: process_slo for the IdP's LogoutRequest or LogoutResponse."""
    auth, _ = init_saml_auth(prepare_flask_request())
    request_id = session.get("LogoutRequestID")
    try:
        url = auth.process_slo(request_id=request_id, delete_session_cb=lambda: session.clear())
    except Exception as e:
        return refused(["invalid_logout_message"], str(e) or e.__class__.__name__)
    errors = auth.get_errors()
    if errors:
        return refused(errors, auth.get_last_error_reason() or ", ".join(errors))
    if url is not None:
        log("logout request accepted; LogoutResponse sent to the IdP")
        return redirect(url)
    log("logout response accepted; signed out")
    return jsonify(status="signed out")


def admin_allowed():
    if not ADMIN_TOKEN:
        return False
    try:
        if not ipaddress.ip_address(request.remote_addr or "").is_loopback:
            return False
    except ValueError:
        return False
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), ("Bearer " + ADMIN_TOKEN).encode())


def options_view(options):
    view = dict(options)
    view["idp_metadata_url"] = options["idp_metadata_url"]
    return view


@app.post("/admin/settings")
def admin_settings():
    if not admin_allowed():
        return make_response(jsonify(error="not_found"), 404)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return make_response(jsonify(error="a JSON object is required"), 400)
    _, options = current()
    for key, value in body.items():
        if key in ("want_assertions_signed", "want_messages_signed"):
            if not isinstance(value, bool) and value is not None:
                return make_response(jsonify(error="%s must be true, false or null" % key), 400)
        elif key == "identity_attribute":
            if value is not None and not (isinstance(value, str) and value):
                return make_response(jsonify(error="identity_attribute must be a name or null"), 400)
        elif key == "requested_authn_context":
            if value is not None and not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
                return make_response(jsonify(error="requested_authn_context must be a list of URIs or null"), 400)
        elif key == "idp_metadata_url":
            if not isinstance(value, str) or not value:
                return make_response(jsonify(error="idp_metadata_url must be a URL"), 400)
        else:
            return make_response(jsonify(error="unknown setting %s" % key), 400)
        options[key] = value
    try:
        apply(options)
    except Exception as e:
        return make_response(jsonify(error=str(e)), 400)
    log("admin: settings %s" % json.dumps(options, sort_keys=True))
    return jsonify(options_view(options))


@app.post("/admin/reset")
def admin_reset():
    if not admin_allowed():
        return make_response(jsonify(error="not_found"), 404)
    apply(dict(START))
    log("admin: reset")
    return jsonify(options_view(dict(START)))


def main():
    server = make_server(BIND, PORT, app, threaded=True)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("python3-saml app listening on %s (IdP %s)" % (PUBLIC_URL, _state["settings"]["idp"].get("entityId")))
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
