// A small SAML service provider around @node-saml/node-saml, written the way the library's
// README suggests, so that SAML Harness reports what the library itself accepts. On top of the
// library it does only what a typical application does: take the NameID (or an `email`
// attribute) as the user's email, keep an in-memory session, and wire Single Logout the way
// passport-saml (the library's own Passport strategy) does. It does NOT add checks the library
// leaves to applications (typed email = asserted email, replay cache, which session a
// LogoutRequest names, ...): the harness must see those gaps. See README.md for every option
// and why.
//
// Environment:
//   BIND              address to listen on (default 127.0.0.1)
//   PORT              port to listen on (default 8380)
//   PUBLIC_URL        the URL the SP is reached at (default http://BIND:PORT); entityID and ACS
//                     derive from it
//   IDP_METADATA_URL  the IdP's metadata (required); read at start, retried for about 20 s
//   IDP_INITIATED     on|off (default off): accept unsolicited responses
//   ADMIN_TOKEN       enables POST /admin/settings and POST /admin/reset (Bearer token);
//                     without it those routes answer 404
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { SAML } = require("@node-saml/node-saml");

const EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const MAX_BODY = 1024 * 1024;
const METADATA_TIMEOUT_MS = 20000;

function fail(message) {
  process.stderr.write(`node-saml target: ${message}\n`);
  process.exit(2);
}

function log(line) {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

// --- Configuration. ---

const BIND = process.env.BIND || "127.0.0.1";
const PORT = Number(process.env.PORT || 8380);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) fail(`PORT is not a port number: ${process.env.PORT}`);
const PUBLIC_URL = (process.env.PUBLIC_URL || `http://${BIND}:${PORT}`).replace(/\/+$/, "");
const IDP_METADATA_URL = process.env.IDP_METADATA_URL;
const IDP_INITIATED = process.env.IDP_INITIATED || "off";
if (IDP_INITIATED !== "on" && IDP_INITIATED !== "off") fail(`IDP_INITIATED must be "on" or "off", not ${JSON.stringify(IDP_INITIATED)}`);
const ADMIN_TOKEN = process.env.ADMIN_TOKEN || "";

const ENTITY_ID = `${PUBLIC_URL}/saml/metadata`;
const ACS_URL = `${PUBLIC_URL}/saml/acs`;
// The SingleLogoutService (HTTP-Redirect and HTTP-POST): node-saml's logoutCallbackUrl.
const SLO_URL = `${PUBLIC_URL}/saml/slo`;

// --- The SP's signing key, for its logout messages. ---

// A real deployment loads its key and certificate from files; this demo makes an RSA-2048 key
// and a self-signed certificate at start (a new pair per process, published in the metadata,
// which the IdP reads). node:crypto cannot issue certificates, so the few DER fields of an
// X.509 v3 certificate are written here and signed with the key (sha256WithRSAEncryption).
function selfSignedCertificate(privateKey, publicKey, commonName) {
  const der = (tag, ...parts) => {
    const body = Buffer.concat(parts);
    const n = body.length;
    const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
    return Buffer.concat([Buffer.from([tag, ...length]), body]);
  };
  const seq = (...parts) => der(0x30, ...parts);
  const oid = (hex) => der(0x06, Buffer.from(hex, "hex"));
  // UTCTime, YYMMDDHHMMSSZ.
  const time = (date) => der(0x17, Buffer.from(`${date.toISOString().replace(/[-:T]/g, "").slice(2, 14)}Z`));
  const sha256WithRsa = seq(oid("2a864886f70d01010b"), Buffer.from([0x05, 0x00]));
  const name = seq(der(0x31, seq(oid("550403"), der(0x0c, Buffer.from(commonName, "utf8")))));
  const serial = crypto.randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40; // positive, no leading zero byte
  const now = Date.now();
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // v3
    der(0x02, serial),
    sha256WithRsa,
    name,
    seq(time(new Date(now - 60 * 60 * 1000)), time(new Date(now + 10 * 365 * 24 * 60 * 60 * 1000))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
  );
  const signature = crypto.sign("sha256", tbs, privateKey);
  const cert = seq(tbs, sha256WithRsa, der(0x03, Buffer.from([0]), signature));
  const pem = `-----BEGIN CERTIFICATE-----\n${cert.toString("base64").match(/.{1,64}/g).join("\n")}\n-----END CERTIFICATE-----\n`;
  if (!new crypto.X509Certificate(pem).verify(publicKey)) throw new Error("the self-signed certificate does not verify");
  return pem;
}

const signingKeys = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
// node-saml's privateKey: PEM (PKCS #8).
const SIGNING_KEY = signingKeys.privateKey.export({ type: "pkcs8", format: "pem" });
const SIGNING_CERT = selfSignedCertificate(signingKeys.privateKey, signingKeys.publicKey, "node-saml target SP signing");

// --- IdP metadata: entityID, the HTTP-Redirect SSO and SLO URLs, and every signing certificate. ---

function attr(tag, name) {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(tag);
  return m ? unescapeXml(m[1] ?? m[2]) : undefined;
}

function unescapeXml(text) {
  return text
    .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

// A small scan, not a full XML parser: enough for the metadata an IdP publishes.
function parseMetadata(xml) {
  const entity = /<(?:[\w.-]+:)?EntityDescriptor\b[^>]*>/.exec(xml);
  const entityId = entity && attr(entity[0], "entityID");
  const idpDescriptor = /<(?:[\w.-]+:)?IDPSSODescriptor\b[\s\S]*?<\/(?:[\w.-]+:)?IDPSSODescriptor>/.exec(xml);
  const scope = idpDescriptor ? idpDescriptor[0] : xml;
  const redirectLocation = (element) => {
    for (const [tag] of scope.matchAll(new RegExp(`<(?:[\\w.-]+:)?${element}\\b[^>]*>`, "g"))) {
      if (attr(tag, "Binding") === REDIRECT_BINDING) return attr(tag, "Location");
    }
    return undefined;
  };
  const ssoUrl = redirectLocation("SingleSignOnService");
  // Optional: without it, node-saml sends logout messages to the entryPoint (its default).
  const sloUrl = redirectLocation("SingleLogoutService");
  const certs = [];
  const keyDescriptors = /<(?:[\w.-]+:)?KeyDescriptor\b([^>]*?)(?:\/>|>([\s\S]*?)<\/(?:[\w.-]+:)?KeyDescriptor>)/g;
  for (const [tag, , body] of scope.matchAll(keyDescriptors)) {
    const use = attr(tag, "use");
    if (use !== undefined && use !== "signing") continue;
    for (const [, cert] of (body || "").matchAll(/<(?:[\w.-]+:)?X509Certificate\b[^>]*>([\s\S]*?)<\/(?:[\w.-]+:)?X509Certificate>/g)) {
      const base64 = cert.replace(/\s+/g, "");
      if (base64 && !certs.includes(base64)) certs.push(base64);
    }
  }
  const missing = [
    !entityId && "an entityID",
    !ssoUrl && "an HTTP-Redirect SingleSignOnService",
    certs.length === 0 && "a signing certificate",
  ].filter(Boolean);
  if (missing.length > 0) throw new Error(`the IdP metadata lacks ${missing.join(", ")}`);
  return { entityId, ssoUrl, sloUrl, certs };
}

async function fetchMetadata(url) {
  const deadline = Date.now() + METADATA_TIMEOUT_MS;
  let last = "no attempt";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      const text = await response.text();
      if (response.ok) return parseMetadata(text);
      last = `HTTP ${response.status}`;
    } catch (e) {
      last = e.cause ? `${e.message} (${e.cause.code || e.cause.message})` : e.message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`failed to read the IdP metadata from ${url}: ${last}`);
}

// --- The SAML instance, rebuilt when a setting changes. ---

let idp;
const initialSettings = Object.freeze({
  idp_initiated: IDP_INITIATED === "on",
  // false: the library's default, the Response AND the Assertion must be signed. true: only
  // the Assertion must be (wantAuthnResponseSigned false), what Entra ID's default needs.
  assertion_signature_only: false,
  // true: only the Response must be signed (wantAssertionsSigned false), what saml2int's
  // SDP-IDP09 IdPs and AD FS's "sign the message" send.
  response_signature_only: false,
});
let settings = { ...initialSettings };
let saml;

function buildSaml() {
  saml = new SAML({
    callbackUrl: ACS_URL,
    entryPoint: idp.ssoUrl,
    issuer: ENTITY_ID,
    // Checked against every AudienceRestriction; the library's default is the issuer anyway.
    audience: ENTITY_ID,
    // Every signing certificate the IdP publishes (current and rollover).
    idpCert: idp.certs,
    // "always": a response must answer a request this process issued (the library's default
    // in-memory cache). "ifPresent" is what the README offers for IdP-initiated login:
    // unsolicited responses (no InResponseTo) are let in.
    validateInResponseTo: settings.idp_initiated ? "ifPresent" : "always",
    // SAML2Int suggests tolerating a few minutes of skew; the library's default is 0.
    acceptedClockSkewMs: 180000,
    // The SP's own key: node-saml signs every HTTP-Redirect message it builds with it, the
    // logout messages (and, as a side effect, the AuthnRequests too).
    privateKey: SIGNING_KEY,
    signatureAlgorithm: "sha256",
    identifierFormat: EMAIL_FORMAT,
    // Single Logout: the IdP's HTTP-Redirect SingleLogoutService (logout requests and
    // responses go there), this SP's endpoint for the metadata, and the IdP's entityID, which
    // node-saml then requires as the Issuer of incoming logout messages.
    logoutUrl: idp.sloUrl,
    logoutCallbackUrl: SLO_URL,
    idpIssuer: idp.entityId,
    // Both are the library's defaults (true) unless the `signature=assertion` hook turned
    // wantAuthnResponseSigned off, or the `signature=response` hook wantAssertionsSigned.
    wantAuthnResponseSigned: !settings.assertion_signature_only,
    wantAssertionsSigned: !settings.response_signature_only,
  });
}

// --- HTTP. ---

const sessions = new Map();

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function currentSession(req) {
  const sid = cookies(req).sid;
  return sid ? sessions.get(sid) : undefined;
}

function send(res, status, body, headers = {}) {
  const isJson = typeof body === "object";
  res.writeHead(status, {
    "Content-Type": isJson ? "application/json" : "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    ...headers,
  });
  res.end(isJson ? JSON.stringify(body) : body);
}

const CLEAR_SID = "sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";

// The SP metadata: node-saml's generator, with the signing certificate (KeyDescriptor
// use="signing"). It lists logoutCallbackUrl for HTTP-POST only; the IdP's LogoutRequests come
// over HTTP-Redirect too (and its LogoutResponses to the app's redirect), so the same endpoint
// is listed for that binding as well.
function spMetadata() {
  const xml = saml.generateServiceProviderMetadata(null, SIGNING_CERT);
  const redirectSlo = `<SingleLogoutService Binding="${REDIRECT_BINDING}" Location="${escapeXml(SLO_URL)}"/>`;
  const withRedirect = xml.replace(/(\s*)<SingleLogoutService\b/, (m, space) => `${space}${redirectSlo}${m}`);
  if (withRedirect === xml) throw new Error("node-saml's metadata has no SingleLogoutService");
  return withRedirect;
}

function escapeXml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function redirect(res, status, location, headers = {}) {
  res.writeHead(status, { Location: location, "Cache-Control": "no-store", ...headers });
  res.end();
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        req.removeAllListeners("data");
        req.resume();
        reject(new HttpError(413, `the body exceeds ${MAX_BODY} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function adminAllowed(req) {
  if (!ADMIN_TOKEN) return false;
  const given = Buffer.from(req.headers.authorization || "");
  const wanted = Buffer.from(`Bearer ${ADMIN_TOKEN}`);
  return given.length === wanted.length && crypto.timingSafeEqual(given, wanted);
}

const HOME = `<!doctype html>
<html><head><meta charset="utf-8"><title>node-saml target</title></head>
<body><h1>node-saml target</h1>
<form action="/login" method="get">
<label>Email <input name="email" type="email" autocomplete="username"></label>
<button>Sign in with SSO</button>
</form>
<p><a href="/me">Who am I?</a> · <a href="/saml/logout">Sign out everywhere</a> · <a href="/saml/metadata">SP metadata</a></p>
</body></html>
`;

const SIGNED_OUT = `<!doctype html>
<html><head><meta charset="utf-8"><title>node-saml target: signed out</title></head>
<body><h1>signed out</h1><p>You are signed out here and at the identity provider.</p>
<p><a href="/">Home</a></p>
</body></html>
`;

async function handle(req, res) {
  const url = new URL(req.url, PUBLIC_URL);
  switch (`${req.method} ${url.pathname}`) {
    case "GET /healthz":
      return send(res, 200, "ok", { "Content-Type": "text/plain" });

    case "GET /":
      return send(res, 200, HOME);

    case "GET /saml/metadata":
      return send(res, 200, spMetadata(), {
        "Content-Type": "application/samlmetadata+xml",
      });

    case "GET /login": {
      // A typical app: the typed email picks the IdP (there is one) and is forgotten; the
      // RelayState carries where to go after login.
      const location = await saml.getAuthorizeUrlAsync("/me", url.host, {});
      return redirect(res, 302, location);
    }

    case "POST /saml/acs": {
      const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
      let profile;
      try {
        ({ profile } = await saml.validatePostResponseAsync(form));
      } catch (e) {
        res.refusal = e.message;
        return send(res, 403, { error: "refused", reason: e.message });
      }
      if (!profile) {
        // A valid LogoutResponse-like message: nothing to sign in.
        res.refusal = "no profile in the response";
        return send(res, 403, { error: "refused", reason: res.refusal });
      }
      const email = profile.nameID || profile.email;
      const sid = crypto.randomBytes(24).toString("base64url");
      sessions.set(sid, { email, profile });
      res.login = email;
      return redirect(res, 303, "/me", { "Set-Cookie": `sid=${sid}; Path=/; HttpOnly; SameSite=Lax` });
    }

    case "GET /me": {
      const session = currentSession(req);
      if (!session) return send(res, 401, { error: "not_signed_in" });
      const { profile } = session;
      return send(res, 200, {
        email: session.email,
        name_id: profile.nameID ?? null,
        name_id_format: profile.nameIDFormat ?? null,
        attributes: profile.attributes || {},
        method: "sso",
      });
    }

    case "GET /logout":
    case "POST /logout": {
      // This SP only: the IdP is not told.
      const sid = cookies(req).sid;
      if (sid) sessions.delete(sid);
      return redirect(res, 303, "/", { "Set-Cookie": CLEAR_SID });
    }

    case "GET /saml/logout":
    case "POST /saml/logout": {
      // SP-initiated Single Logout, as passport-saml's strategy.logout(): the session ends
      // here at once, then the IdP gets a LogoutRequest (HTTP-Redirect, signed with privateKey)
      // built from the profile node-saml returned at login (NameID, its format, SessionIndex).
      const sid = cookies(req).sid;
      const session = sid ? sessions.get(sid) : undefined;
      if (sid) sessions.delete(sid);
      if (!session) return redirect(res, 303, "/", { "Set-Cookie": CLEAR_SID });
      const location = await saml.getLogoutUrlAsync(session.profile, undefined, {});
      res.logout = `${session.email} (LogoutRequest to the IdP)`;
      return redirect(res, 302, location, { "Set-Cookie": CLEAR_SID });
    }

    case "GET /saml/slo":
    case "POST /saml/slo": {
      // The SingleLogoutService. The library validates; the app only routes, as passport-saml
      // does: a query with SAMLRequest or SAMLResponse goes to validateRedirectAsync (with the
      // raw query string, over which the signature is checked), a posted SAMLRequest to
      // validatePostRequestAsync, a posted SAMLResponse to validatePostResponseAsync. The query
      // and the form are read with URLSearchParams, like the ACS form (a repeated parameter:
      // the last one counts).
      let container;
      let result;
      try {
        if (req.method === "GET") {
          container = Object.fromEntries(url.searchParams);
          const q = req.url.indexOf("?");
          const originalQuery = q < 0 ? "" : req.url.slice(q + 1);
          if (!container.SAMLRequest && !container.SAMLResponse) throw new HttpError(400, "no SAMLRequest or SAMLResponse");
          result = await saml.validateRedirectAsync(container, originalQuery);
        } else {
          container = Object.fromEntries(new URLSearchParams(await readBody(req)));
          if (container.SAMLRequest) result = await saml.validatePostRequestAsync(container);
          else if (container.SAMLResponse) result = await saml.validatePostResponseAsync(container);
          else throw new HttpError(400, "no SAMLRequest or SAMLResponse");
        }
      } catch (e) {
        if (e instanceof HttpError) throw e;
        res.refusal = e.message;
        return send(res, 403, { error: "refused", reason: e.message });
      }
      if (!result.loggedOut) {
        // A login response posted to the logout endpoint.
        res.refusal = "not a logout message";
        return send(res, 403, { error: "refused", reason: res.refusal });
      }
      if (result.profile) {
        // The IdP's LogoutRequest, validated by node-saml. Which session ends is the app's
        // choice (node-saml returns the request's NameID and SessionIndex and keeps no
        // sessions). This app does what passport-saml's Strategy does, the common pattern:
        // the session of the browser that delivered the request ends, whatever the request
        // names; the LogoutResponse says Success when that session's user is the one named
        // (passport-saml's userMatch, with the README's logout verify that looks the user up
        // by profile.nameID), otherwise Requester/UnknownPrincipal. SessionIndex is not
        // compared, and other sessions of the user (other browsers) are left alone.
        const sid = cookies(req).sid;
        const session = sid ? sessions.get(sid) : undefined;
        const userMatch = session !== undefined && session.profile.nameID === result.profile.nameID;
        if (sid) sessions.delete(sid);
        const location = await saml.getLogoutResponseUrlAsync(result.profile, container.RelayState, {}, userMatch);
        res.logout = `${session ? session.email : "(no session)"} by the IdP's LogoutRequest for ${result.profile.nameID}${userMatch ? "" : " (no match)"}`;
        return redirect(res, 302, location, { "Set-Cookie": CLEAR_SID });
      }
      // The IdP's LogoutResponse to this SP's LogoutRequest: the session already ended.
      res.logout = "LogoutResponse accepted";
      return send(res, 200, SIGNED_OUT, { "Set-Cookie": CLEAR_SID });
    }

    case "POST /admin/settings":
    case "POST /admin/reset": {
      if (!ADMIN_TOKEN) return send(res, 404, { error: "not_found" });
      if (!adminAllowed(req)) return send(res, 401, { error: "admin_token_required" });
      if (url.pathname === "/admin/reset") {
        settings = { ...initialSettings };
      } else {
        let patch;
        try {
          patch = JSON.parse((await readBody(req)) || "{}");
        } catch (e) {
          return send(res, 400, { error: "bad_json", reason: e.message });
        }
        if (patch === null || typeof patch !== "object" || Array.isArray(patch)) {
          return send(res, 400, { error: "bad_settings", reason: "expected a JSON object" });
        }
        for (const [key, value] of Object.entries(patch)) {
          if (!(key in initialSettings)) return send(res, 400, { error: "bad_settings", reason: `unknown setting ${key}` });
          if (typeof value !== "boolean") return send(res, 400, { error: "bad_settings", reason: `${key} must be true or false` });
        }
        settings = { ...settings, ...patch };
      }
      buildSaml();
      log(`settings ${JSON.stringify(settings)}`);
      return send(res, 200, settings);
    }

    default:
      return send(res, 404, { error: "not_found" });
  }
}

async function main() {
  if (!IDP_METADATA_URL) fail("IDP_METADATA_URL is required (the IdP's metadata URL)");
  if (!URL.canParse(IDP_METADATA_URL)) fail(`IDP_METADATA_URL is not a URL: ${IDP_METADATA_URL}`);
  try {
    idp = await fetchMetadata(IDP_METADATA_URL);
    buildSaml();
  } catch (e) {
    fail(e.message);
  }

  const server = http.createServer((req, res) => {
    const started = Date.now();
    req.on("error", () => {});
    res.on("error", () => {});
    res.on("finish", () => {
      const extra = res.login ? ` login=${res.login}` : res.refusal ? ` refused=${JSON.stringify(res.refusal)}` : res.logout ? ` logout=${res.logout}` : "";
      log(`${req.method} ${req.url.slice(0, 120)} ${res.statusCode} ${Date.now() - started}ms${extra}`);
    });
    handle(req, res).catch((e) => {
      const status = e instanceof HttpError ? e.status : 400;
      if (!res.headersSent) send(res, status, { error: "bad_request", reason: e.message }, { Connection: "close" });
      else res.destroy();
    });
  });
  server.on("error", (e) => fail(`failed to listen on ${BIND}:${PORT}: ${e.message}`));
  server.listen(PORT, BIND, () => {
    log(`node-saml target: SP ${ENTITY_ID} listening on ${BIND}:${server.address().port}; IdP ${idp.entityId}, ${idp.certs.length} signing certificate(s), SLO ${idp.sloUrl || "(none: the SSO URL)"}, IdP-initiated ${IDP_INITIATED}`);
  });

  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main();
