#!/usr/bin/env bash
# Smoke test of the node-saml target app, by hand, without the harness: starts the mock IdP and
# the app on loopback, then drives logins with curl.
#
#   targets/node-saml/smoke.sh
#
# Environment: IDP_PORT (8181), SP_PORT (8380), MOCK_IDP (a mock-idp binary; default: built
# with `cargo build -q -p mock-idp`), KEEP=1 keeps the temp folder (logs) afterwards.
# Exit code 0 when every check passes, 1 when one fails, 2 when it could not start.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
idp_port="${IDP_PORT:-8181}"
sp_port="${SP_PORT:-8380}"
idp="http://127.0.0.1:$idp_port"
sp="http://127.0.0.1:$sp_port"
tmp="$(mktemp -d)"
pids=()
failed=0

cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    if [[ "${KEEP:-}" == 1 ]]; then echo "logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

die() { echo "smoke: $*" >&2; exit 2; }
check() { # check NAME CONDITION-EXIT-CODE DETAIL
    if [[ "$2" == 0 ]]; then echo "ok   $1"; else echo "FAIL $1: $3"; failed=1; fi
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # wait_for URL SECONDS PID
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}
html_unescape() { sed -e 's/&quot;/"/g; s/&#x27;/'"'"'/g; s/&#39;/'"'"'/g; s/&lt;/</g; s/&gt;/>/g; s/&amp;/\&/g'; }

command -v curl >/dev/null || die "curl is missing"
command -v node >/dev/null || die "node is missing (apt-get install nodejs npm)"
port_busy "$idp_port" && die "port $idp_port is in use (set IDP_PORT)"
port_busy "$sp_port" && die "port $sp_port is in use (set SP_PORT)"

# The mock IdP.
mock_idp="${MOCK_IDP:-}"
if [[ -z "$mock_idp" ]]; then
    (cd "$root" && cargo build -q -p mock-idp) || die "failed to build mock-idp"
    mock_idp="${CARGO_TARGET_DIR:-$root/target}/debug/mock-idp"
fi
[[ -x "$mock_idp" ]] || die "no mock-idp binary at $mock_idp"
# The control API's token: this script's own, random (given through the environment, so it
# is not in `ps`).
control_token="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
MOCK_IDP_CONTROL_TOKEN="$control_token" "$mock_idp" serve --bind "127.0.0.1:$idp_port" \
    --state "$tmp/idp-state" --sp-metadata "$sp/saml/metadata" >/dev/null 2>"$tmp/idp.log" &
pids+=($!)
wait_for "$idp/metadata" 20 "${pids[-1]}" || die "the mock IdP did not start: $(tail -3 "$tmp/idp.log")"

# The app.
if [[ ! -d "$here/node_modules/@node-saml/node-saml" ]]; then
    (cd "$here" && npm ci --no-audit --no-fund --silent) || die "npm ci failed"
fi
(cd "$here" && PORT="$sp_port" IDP_METADATA_URL="$idp/metadata" ADMIN_TOKEN=smoke-token \
    exec node server.js 2>"$tmp/sp.log") &
pids+=($!)
wait_for "$sp/healthz" 30 "${pids[-1]}" || die "the app did not start: $(tail -3 "$tmp/sp.log")"

# plan JSON -> plan id
plan() {
    curl -fsS -X POST -H "Authorization: Bearer $control_token" \
        -H 'Content-Type: application/json' --data "$1" "$idp/_control/plans" \
        | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'
}

# post_form HTML-FILE JAR OUT-FILE: posts the IdP's auto-submit form; prints the HTTP status.
post_form() {
    local action response relay
    action="$(grep -o 'action="[^"]*"' "$1" | head -1 | sed 's/^action="//; s/"$//' | html_unescape)"
    response="$(grep -o 'name="SAMLResponse" value="[^"]*"' "$1" | sed 's/.*value="//; s/"$//' | html_unescape)"
    relay="$(grep -o 'name="RelayState" value="[^"]*"' "$1" | sed 's/.*value="//; s/"$//' | html_unescape)"
    [[ -n "$action" && -n "$response" ]] || { echo "no-form"; return; }
    local args=(-sS -o "$3" -w '%{http_code}' -b "$2" -c "$2" --data-urlencode "SAMLResponse=$response")
    [[ -n "$relay" ]] && args+=(--data-urlencode "RelayState=$relay")
    curl "${args[@]}" "$action"
}

# sp_login NAME EMAIL PLAN-JSON: an SP-initiated login in a fresh user agent (cookie jar
# $tmp/NAME.jar); leaves the ACS answer in $tmp/NAME.acs, its status in $acs_status and the
# plan id in $last_plan.
sp_login() {
    local name="$1" jar="$tmp/$1.jar" id location
    id="$(plan "$3")"
    [[ -n "$id" ]] || die "the mock IdP refused the plan $3"
    last_plan="$id"
    location="$(curl -sS -o /dev/null -w '%{redirect_url}' -c "$jar" -b "$jar" \
        --get --data-urlencode "email=$2" "$sp/login")"
    [[ "$location" == "$idp/sso?"* ]] || die "GET /login did not redirect to the IdP: '$location'"
    curl -sS -o "$tmp/$name.form" "$location&plan=$id"
    acs_status="$(post_form "$tmp/$name.form" "$jar" "$tmp/$name.acs")"
}

# me NAME: the session probe; prints "STATUS BODY".
me() {
    local body status
    status="$(curl -sS -o "$tmp/$1.me" -w '%{http_code}' -b "$tmp/$1.jar" "$sp/me")"
    body="$(cat "$tmp/$1.me")"
    echo "$status $body"
}

echo "mock IdP $idp, app $sp (logs: $tmp)"

# 1. SP metadata carries the entityID and ACS URL.
metadata="$(curl -sS "$sp/saml/metadata")"
grep -q "entityID=\"$sp/saml/metadata\"" <<<"$metadata" && grep -q "Location=\"$sp/saml/acs\"" <<<"$metadata"
check "SP metadata names $sp/saml/metadata and its ACS" $? "$metadata"

# 2. A valid login signs alice in.
sp_login valid alice@corp.example '{"user":"alice@corp.example"}'
check "valid response: ACS answers 303" "$([[ "$acs_status" == 303 ]]; echo $?)" "status $acs_status: $(cat "$tmp/valid.acs" 2>/dev/null)"
probe="$(me valid)"
check "valid response: /me names alice" "$([[ "$probe" == 200* && "$probe" == *'"email":"alice@corp.example"'* ]]; echo $?)" "$probe"

# 3. Replaying the same response in another user agent: InResponseTo is spent.
cp "$tmp/valid.form" "$tmp/replay.form"
replay_status="$(post_form "$tmp/replay.form" "$tmp/replay.jar" "$tmp/replay.acs")"
check "replayed response refused (403)" "$([[ "$replay_status" == 403 ]]; echo $?)" "status $replay_status: $(cat "$tmp/replay.acs")"

# 4. Logout ends the session.
curl -sS -o /dev/null -b "$tmp/valid.jar" -c "$tmp/valid.jar" "$sp/logout"
probe="$(me valid)"
check "logout: /me answers 401" "$([[ "$probe" == 401* ]]; echo $?)" "$probe"

# 5. Signatures removed: refused with the library's reason.
sp_login unsigned alice@corp.example '{"user":"alice@corp.example","tamper":[{"kind":"remove-signature","which":"all"}]}'
check "unsigned response refused (403)" "$([[ "$acs_status" == 403 ]]; echo $?)" "status $acs_status"
check "refusal names a reason" "$(grep -q '"reason":"[^"]' "$tmp/unsigned.acs"; echo $?)" "$(cat "$tmp/unsigned.acs")"
echo "     reason: $(cat "$tmp/unsigned.acs")"
probe="$(me unsigned)"
check "unsigned response: /me answers 401" "$([[ "$probe" == 401* ]]; echo $?)" "$probe"

# 6. The rollover key (second KeyDescriptor) is trusted too; an attacker's key is not.
sp_login rollover bob@corp.example '{"user":"bob@corp.example","signing":{"key":"rollover"}}'
probe="$(me rollover)"
check "rollover key: /me names bob" "$([[ "$acs_status" == 303 && "$probe" == *'"email":"bob@corp.example"'* ]]; echo $?)" "status $acs_status: $(cat "$tmp/rollover.acs" 2>/dev/null), /me $probe"
sp_login attacker alice@corp.example '{"user":"alice@corp.example","signing":{"key":"attacker-self-signed"}}'
check "attacker key refused (403)" "$([[ "$acs_status" == 403 ]]; echo $?)" "status $acs_status"

# 7. IdP-initiated login: refused while off, accepted once the admin setting turns it on.
idp_initiated() { # NAME: an unsolicited response for alice, posted in a fresh user agent
    curl -sS -o "$tmp/$1.form" --get --data-urlencode "sp=$sp/saml/metadata" \
        --data-urlencode "user=alice@corp.example" "$idp/idp-initiated"
    acs_status="$(post_form "$tmp/$1.form" "$tmp/$1.jar" "$tmp/$1.acs")"
}
idp_initiated unsolicited-off
check "IdP-initiated refused while off (403)" "$([[ "$acs_status" == 403 ]]; echo $?)" "status $acs_status: $(cat "$tmp/unsolicited-off.acs")"
admin() { curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer smoke-token' "$@"; }
status="$(admin -H 'Content-Type: application/json' --data '{"idp_initiated":true}' "$sp/admin/settings")"
check "admin: idp_initiated=true (200)" "$([[ "$status" == 200 ]]; echo $?)" "status $status"
idp_initiated unsolicited-on
probe="$(me unsolicited-on)"
check "IdP-initiated accepted while on" "$([[ "$acs_status" == 303 && "$probe" == *'"email":"alice@corp.example"'* ]]; echo $?)" "status $acs_status, /me $probe"
status="$(admin "$sp/admin/reset")"
check "admin: reset (200)" "$([[ "$status" == 200 ]]; echo $?)" "status $status"
idp_initiated unsolicited-reset
check "IdP-initiated refused again after reset (403)" "$([[ "$acs_status" == 403 ]]; echo $?)" "status $acs_status"

# 8. Bad input never crashes the app.
status="$(curl -sS -o /dev/null -w '%{http_code}' --data 'SAMLResponse=%%%not-base64' "$sp/saml/acs")"
check "garbage SAMLResponse refused (403)" "$([[ "$status" == 403 ]]; echo $?)" "status $status"
status="$(head -c 2000000 /dev/zero | tr '\0' a | curl -sS -o /dev/null -w '%{http_code}' --data-binary @- "$sp/saml/acs")"
check "2 MB body refused (413)" "$([[ "$status" == 413 ]]; echo $?)" "status $status"
status="$(curl -sS -o /dev/null -w '%{http_code}' "$sp/healthz")"
check "still healthy" "$([[ "$status" == 200 ]]; echo $?)" "status $status"

# 9. Single Logout, SP-initiated: the metadata lists /saml/slo and a signing key; /saml/logout
#    ends the session and sends the IdP a signed LogoutRequest, which the IdP finds nothing
#    wrong with; the IdP's signed LogoutResponse comes back and the app says "signed out".
grep -q "<SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"$sp/saml/slo\"" <<<"$metadata" \
    && grep -q '<KeyDescriptor use="signing">' <<<"$metadata"
check "SP metadata lists /saml/slo and a signing key" $? "$metadata"
sp_login slo alice@corp.example '{"user":"alice@corp.example"}'
check "SLO: alice signed in" "$([[ "$acs_status" == 303 ]]; echo $?)" "status $acs_status"
location="$(curl -sS -o /dev/null -w '%{redirect_url}' -b "$tmp/slo.jar" -c "$tmp/slo.jar" "$sp/saml/logout")"
check "SLO: /saml/logout redirects to the IdP with a signed LogoutRequest" \
    "$([[ "$location" == "$idp/slo?SAMLRequest="*"&Signature="* ]]; echo $?)" "'$location'"
probe="$(me slo)"
check "SLO: /me answers 401 at once" "$([[ "$probe" == 401* ]]; echo $?)" "$probe"
back="$(curl -sS -o /dev/null -w '%{redirect_url}' -b "mock_idp_plan=$last_plan" "$location")"
check "SLO: the IdP answers with a LogoutResponse to /saml/slo" \
    "$([[ "$back" == "$sp/saml/slo?SAMLResponse="* ]]; echo $?)" "'$back'"
idp_log="$(curl -sS -H "Authorization: Bearer $control_token" \
    "$idp/_control/log?plan=$last_plan&limit=1")"
check "SLO: the IdP found nothing wrong with the LogoutRequest" \
    "$([[ "$idp_log" == *'"kind":"logout-request"'* && "$idp_log" != *'"problems"'* ]]; echo $?)" "$idp_log"
status="$(curl -sS -o "$tmp/slo.done" -w '%{http_code}' -b "$tmp/slo.jar" "$back")"
check "SLO: the app accepts the LogoutResponse (200 signed out)" \
    "$([[ "$status" == 200 ]] && grep -q 'signed out' "$tmp/slo.done"; echo $?)" "status $status: $(cat "$tmp/slo.done")"

if ((failed)); then echo "smoke: FAILED (logs: $tmp)"; KEEP=1; exit 1; fi
echo "smoke: all checks passed"
