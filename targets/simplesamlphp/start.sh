#!/usr/bin/env bash
# Starts SimpleSAMLphp (the Debian package, /usr/share/simplesamlphp) as a SAML SP for the
# harness, in the foreground, on loopback, with PHP's built-in web server. See README.md.
#
#   IDP_METADATA_URL=http://127.0.0.1:8581/metadata targets/simplesamlphp/start.sh
#
# Environment:
#   IDP_METADATA_URL  (required) the IdP's metadata, imported at every start (retried ~20 s)
#   BIND              address to listen on (127.0.0.1)
#   PORT              port to listen on (8580)
#   PUBLIC_URL        the URL the SP is reached at (http://BIND:PORT)
#   STATE_DIR         the state folder (targets/simplesamlphp/.state): config, keys, metadata,
#                     sessions, document root. Keys and secrets are made once and kept.
#   ADMIN_TOKEN       enables /admin.php (the harness's hooks) with this Bearer token
#   LOG_LEVEL         SimpleSAMLphp's log level: ERR, WARNING, NOTICE (default), INFO, DEBUG
#   WORKERS           PHP built-in server worker processes (4)
#
# Idempotent: every start rewrites the rendered config, the IdP metadata and the document root,
# and forgets the sessions of the previous run. SIGTERM or SIGINT stops the server and all its
# workers (their own process group); exit 0. Exit 2 when it cannot start.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ssp=/usr/share/simplesamlphp
template=/etc/simplesamlphp/config.php

die() { echo "simplesamlphp-target: $*" >&2; exit 2; }

[[ -n "${IDP_METADATA_URL:-}" ]] || die "IDP_METADATA_URL is required"
bind="${BIND:-127.0.0.1}"
port="${PORT:-8580}"
public_url="${PUBLIC_URL:-http://$bind:$port}"
public_url="${public_url%/}"
state="${STATE_DIR:-$here/.state}"
log_level="${LOG_LEVEL:-NOTICE}"
workers="${WORKERS:-4}"

case "$log_level" in
    ERR | WARNING | NOTICE | INFO | DEBUG) ;;
    *) die "LOG_LEVEL must be ERR, WARNING, NOTICE, INFO or DEBUG" ;;
esac
command -v php >/dev/null || die "php is missing (cargo xtask setup, or apt-get install php-cli)"
command -v openssl >/dev/null || die "openssl is missing"
[[ -f "$ssp/lib/_autoload.php" ]] || die "SimpleSAMLphp is missing at $ssp (apt-get install simplesamlphp)"
[[ -f "$template" ]] || die "$template is missing (the simplesamlphp package's config)"

# Another instance on the port would be clobbered (same state folder) or clash: refuse first.
if (exec 3<>"/dev/tcp/$bind/$port") 2>/dev/null; then
    die "$bind:$port is in use (another SP running? set PORT)"
fi

mkdir -p "$state"
state="$(cd "$state" && pwd)"
mkdir -p "$state"/{config,metadata,cert,data,log,tmp,sessions,www}

# The SP's key pair, once per state folder (SimpleSAMLphp's QuickStart: openssl req -newkey
# rsa:3072 -new -x509 -days 3652 -nodes).
if [[ ! -s "$state/cert/sp.pem" || ! -s "$state/cert/sp.crt" ]]; then
    openssl req -newkey rsa:3072 -new -x509 -days 3652 -nodes -batch \
        -subj "/CN=SimpleSAMLphp SP (SAML Harness target)" \
        -keyout "$state/cert/sp.pem" -out "$state/cert/sp.crt" 2>/dev/null ||
        die "openssl could not make the SP key pair"
    chmod 600 "$state/cert/sp.pem"
fi

# The two secrets Debian keeps in /var/lib/simplesamlphp/secrets.inc.php, once per state folder.
secret() { # secret FILE
    [[ -s "$1" ]] || { openssl rand -hex 24 >"$1.tmp" && chmod 600 "$1.tmp" && mv "$1.tmp" "$1"; }
    cat "$1"
}
salt="$(secret "$state/secretsalt")"
admin_password="$(secret "$state/adminpassword")"

# The IdP's metadata, through SimpleSAMLphp's own converter (no hook options at start).
rm -f "$state/metadata/idp-remote-options.php"
# (In the background, so that a SIGTERM while it retries stops it too.)
php "$here/bin/import-idp-metadata.php" "$IDP_METADATA_URL" \
    "$state/metadata/saml20-idp-remote.php" 20 >"$state/idp-entity-id" &
importer=$!
trap 'kill "$importer" 2>/dev/null; exit 0' TERM INT
wait "$importer" || die "could not import the IdP metadata"
trap - TERM INT
idp_entity_id="$(cat "$state/idp-entity-id")"
printf '%s\n' "$IDP_METADATA_URL" >"$state/idp-metadata-url"

# config.php: Debian's, without its last line (the require of Debian's secrets file), and the
# overrides. authsources.php: ours. Values are escaped for a PHP single-quoted string and sed.
php_quote() { printf '%s' "$1" | sed -e "s/[\\\\']/\\\\&/g" -e 's/[|&]/\\&/g'; }
render() { # render FILE: the @@...@@ placeholders filled in
    sed -e "s|@@PUBLIC_URL@@|$(php_quote "$public_url")|g" \
        -e "s|@@STATE@@|$(php_quote "$state")|g" \
        -e "s|@@SECRET_SALT@@|$salt|g" \
        -e "s|@@ADMIN_PASSWORD@@|$admin_password|g" \
        -e "s|@@LOG_LEVEL@@|$log_level|g" \
        -e "s|@@ENTITY_ID@@|$(php_quote "$public_url/simplesaml/module.php/saml/sp/metadata.php/default-sp")|g" \
        -e "s|@@IDP_ENTITY_ID@@|$(php_quote "$idp_entity_id")|g" \
        "$1"
}
{
    grep -v "^require_once('/var/lib/simplesamlphp/secrets.inc.php');" "$template"
    render "$here/config/config-overrides.php"
} >"$state/config/config.php.tmp"
render "$here/config/authsources.php" >"$state/config/authsources.php.tmp"
mv "$state/config/config.php.tmp" "$state/config/config.php"
mv "$state/config/authsources.php.tmp" "$state/config/authsources.php"
php -l "$state/config/config.php" >/dev/null || die "the rendered config.php does not parse"
php -l "$state/config/authsources.php" >/dev/null || die "the rendered authsources.php does not parse"

# The app's settings and the admin token (the hooks); a fresh start forgets the sessions.
printf '{"identity_attribute":null,"idp_metadata_url":"%s","authn_context_class":null}\n' \
    "$IDP_METADATA_URL" >"$state/app-settings.json"
printf '%s\n' "${ADMIN_TOKEN:-}" >"$state/admin-token"
chmod 600 "$state/admin-token"
find "$state/sessions" "$state/tmp" -mindepth 1 -delete

# The document root: SimpleSAMLphp's www/ under /simplesaml, and the app's pages.
find "$state/www" -mindepth 1 -maxdepth 1 -delete
ln -s "$ssp/www" "$state/www/simplesaml"
for page in "$here"/www/*.php; do
    [[ "$(basename "$page")" == _* ]] || ln -s "$page" "$state/www/$(basename "$page")"
done

export SIMPLESAMLPHP_CONFIG_DIR="$state/config"
export SSP_STATE="$state"
export SSP_PUBLIC_URL="$public_url"
export PHP_CLI_SERVER_WORKERS="$workers"

echo "simplesamlphp-target: SimpleSAMLphp $(dpkg-query -W -f='${Version}' simplesamlphp 2>/dev/null || echo '?') at $public_url/ (IdP $idp_entity_id, state $state)" >&2

# php -S in its own process group: job control (set -m) gives the background job one, and
# keeps SIGINT as it is (a plain background job would have it ignored). memory_limit as a web
# SAPI has it (Debian's CLI php.ini has no limit). The opcache (on for the built-in server)
# checks a file for changes only every 2 s by default, so a hook that rewrites the IdP
# metadata would be ignored by the scenario right after it; revalidate_freq=0 checks each time.
set -m
php -d memory_limit=128M -d opcache.revalidate_freq=0 -S "$bind:$port" -t "$state/www" &
server=$!
set +m
# Stopping: SIGINT to the whole group is php -S's own clean shutdown (each worker stops, and the
# server reaps them before it exits; a SIGTERM would kill the server first and leave its workers
# to init). SIGKILL to the group if it is not done in 5 s.
stop() {
    trap - TERM INT
    kill -INT -- "-$server" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    exit 0
}
trap stop TERM INT
wait "$server"
code=$?
echo "simplesamlphp-target: php -S exited with code $code" >&2
exit "$code"
