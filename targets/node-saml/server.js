// A small SAML service provider around @node-saml/node-saml, written the way the library's
// README suggests, so that SAML Harness reports what the library itself accepts. It does only
// what a typical application does on top: take the NameID as the user's email and keep an
// in-memory session. See README.md for every option and why.
//
// Environment: BIND (127.0.0.1), PORT (8380), PUBLIC_URL (http://BIND:PORT), IDP_METADATA_URL
// (required), IDP_INITIATED (on|off, default off), ADMIN_TOKEN (optional, for /admin/settings).
"use strict";

const http = require("node:http");
const crypto = require("node:crypto");
const { SAML, generateServiceProviderMetadata } = require("@node-saml/node-saml");

const BIND = process.env.BIND || "127.0.0.1";
const PORT = Number(process.env.PORT || 8380);
const PUBLIC_URL = (process.env.PUBLIC_URL || `http://${BIND}:${PORT}`).replace(/\/$/, "");
const IDP_METADATA_URL = process.env.IDP_METADATA_URL;
const ADMIN_TOKEN = process.env.ADMIN_TOKEN || "";
const MAX_BODY = 1024 * 1024;

const ENTITY_ID = `${PUBLIC_URL}/saml/metadata`;
const ACS_URL = `${PUBLIC_URL}/saml/acs`;

function log(line) {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

function fail(message) {
  process.stderr.write(`node-saml target: ${message}\n`);
  process.exit(2);
}

// --- IdP metadata: entityID, the HTTP-Redirect SSO URL, and every signing certificate. ---

function parseMetadata(xml) {
  const entityId = /<(?:\w+:)?EntityDescriptor\b[^>]*\bentityID="([^"]+)"/.exec(xml);
  const sso = /<(?:\w+:)?SingleSignOnService\b[^>]*Binding="urn:oasis:names:tc:SAML:2\.0:bindings:HTTP-Redirect"[^>]*Location="([^"]+)"/.exec(xml)
    || /<(?:\w+:)?SingleSignOnService\b[^>]*Location="([^"]+)"[^>]*Binding="urn:oasis:names:tc:SAML:2\.0:bindings:HTTP-Redirect"/.exec(xml);
  const certs = [];
  const keyDescriptor = /<(?:\w+:)?KeyDescriptor\b([^>]*)>([\s\S]*?)<\/(?:\w+:)?KeyDescriptor>/g;
  let match;
  while ((match = keyDescriptor.exec(xml)) !== null) {
    const use = /\buse="([^"]*)"/.exec(match[1]);
    if (use && use[1] !== "signing") continue;
    const cert = /<(?:\w+:)?X509Certificate>([\s\S]*?)<\/(?:\w+:)?X509Certificate>/.exec(match[2]);
    if (cert) certs.push(cert[1].replace(/\s+/g, ""));
  }
  if (!entityId || !sso || certs.length === 0) {
    throw new Error("the IdP metadata lacks an entityID, an HTTP-Redirect SSO location or a signing certificate");
  }
  return { entityId: entityId[1], ssoUrl: sso[1].replace(/&amp;/g, "&"), certs };
}

async function fetchMetadata(url) {
  let last = "";
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const response = await fetch(url);
      if (response.ok) return parseMetadata(await response.text());
      last = `HTTP ${response.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`failed to read IdP metadata from ${url}: ${last}`);
}

// --- The SAML instance, rebuilt when a setting changes. ---

let idp;
let settings = { idp_initiated: process.env.IDP_INITIATED === "on" };
const initialSettings = { ...settings };
let saml;

function buildSaml() {
  saml = new SAML({
    callbackUrl: ACS_URL,
    entryPoint: idp.ssoUrl,
    issuer: ENTITY_ID,
    idpCert: idp.certs,
    // "always" validates InResponseTo against the requests this process issued (the
    // library's in-memory cache); "ifPresent" also lets unsolicited responses in.
    validateInResponseTo: settings.idp_initiated ? "ifPresent" : "always",
    // saml2int asks for 3-5 minutes of skew tolerance; the library's default is 0.
    acceptedClockSkewMs: 180000,
    signatureAlgorithm: "sha256",
    identifierFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    // wantAssertionsSigned and wantAuthnResponseSigned stay at the library's defaults (true).
  });
}

// --- HTTP. ---

const sessions = new Map();

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function send(res, status, body, headers = {}) {
  const isJson = typeof body === "object";
  res.writeHead(status, {
    "Content-Type": isJson ? "application/json" : "text/html; charset=utf-8",
    ...headers,
  });
  res.end(isJson ? JSON.stringify(body) : body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function handle(req, res) {
  const url = new URL(req.url, PUBLIC_URL);
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case "GET /healthz":
      return send(res, 200, "ok", { "Content-Type": "text/plain" });
    case "GET /":
      return send(res, 200, '<form action="/login"><input name="email" type="email"> <button>Sign in with SSO</button></form>');
    case "GET /saml/metadata":
      return send(res, 200, generateServiceProviderMetadata({
        issuer: ENTITY_ID,
        callbackUrl: ACS_URL,
        identifierFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        wantAssertionsSigned: true,
      }), { "Content-Type": "application/samlmetadata+xml" });
    case "GET /login": {
      const location = await saml.getAuthorizeUrlAsync("/me", url.host, {});
      res.writeHead(302, { Location: location });
      return res.end();
    }
    case "POST /saml/acs": {
      const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
      try {
        const { profile } = await saml.validatePostResponseAsync(form);
        const email = profile.nameID || profile.email;
        const sid = crypto.randomBytes(16).toString("hex");
        sessions.set(sid, { email, profile });
        log(`login ${email}`);
        res.writeHead(303, { Location: "/me", "Set-Cookie": `sid=${sid}; Path=/; HttpOnly; SameSite=Lax` });
        return res.end();
      } catch (e) {
        log(`refused: ${e.message}`);
        return send(res, 403, { error: "refused", reason: e.message });
      }
    }
    case "GET /me": {
      const session = sessions.get(cookies(req).sid);
      if (!session) return send(res, 401, { error: "not_signed_in" });
      const { profile } = session;
      const attributes = {};
      for (const [k, v] of Object.entries(profile.attributes || {})) attributes[k] = v;
      return send(res, 200, {
        email: session.email,
        name_id: profile.nameID,
        name_id_format: profile.nameIDFormat,
        attributes,
        method: "sso",
      });
    }
    case "GET /logout":
    case "POST /logout":
      sessions.delete(cookies(req).sid);
      res.writeHead(303, { Location: "/", "Set-Cookie": "sid=; Path=/; Max-Age=0" });
      return res.end();
    case "POST /admin/settings":
    case "POST /admin/reset": {
      if (ADMIN_TOKEN && req.headers.authorization !== `Bearer ${ADMIN_TOKEN}`) {
        return send(res, 401, { error: "admin token required" });
      }
      if (url.pathname === "/admin/reset") {
        settings = { ...initialSettings };
      } else {
        const patch = JSON.parse((await readBody(req)) || "{}");
        for (const key of Object.keys(patch)) {
          if (!(key in settings)) return send(res, 400, { error: `unknown setting ${key}` });
        }
        settings = { ...settings, ...patch };
      }
      buildSaml();
      log(`settings ${JSON.stringify(settings)}`);
      return send(res, 200, settings);
    }
    default:
      return send(res, 404, { error: "not found" });
  }
}

async function main() {
  if (!IDP_METADATA_URL) fail("IDP_METADATA_URL is required (the mock IdP's /metadata)");
  try {
    idp = await fetchMetadata(IDP_METADATA_URL);
  } catch (e) {
    fail(e.message);
  }
  buildSaml();
  const server = http.createServer((req, res) => {
    handle(req, res)
      .then(() => log(`${req.method} ${req.url} ${res.statusCode}`))
      .catch((e) => {
        log(`${req.method} ${req.url} failed: ${e.message}`);
        if (!res.headersSent) send(res, 400, { error: "bad request", reason: e.message });
      });
  });
  server.listen(PORT, BIND, () => log(`node-saml target listening on ${PUBLIC_URL} (IdP ${idp.entityId})`));
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main();
