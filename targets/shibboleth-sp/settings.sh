#!/usr/bin/env bash
# The harness's hooks: settings.sh SETTING...  or  settings.sh reset
#
# Keeps the settings in $state/settings (one "name=value" a line; a new value of a name
# replaces the old one). The application's own (identity=..., name-id-format=...) are read by
# cgi/whoami at every request. Those that change Shibboleth's configuration (signature=...,
# idp-initiated=..., idp-metadata=..., authn-context=...) make start.sh render
# shibboleth2.xml again and restart shibd and Apache (SIGHUP); this script returns once the
# SP answers again. `reset` forgets every setting (the package's behaviour again).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=${SHIB_SP_STATE:-$here/.state}
settings=$state/settings
log() { echo "settings.sh: $*" >&2; }

[ $# -gt 0 ] || { log "usage: settings.sh SETTING... | reset"; exit 2; }
[ -s "$state/start.pid" ] || { log "the SP is not running (no $state/start.pid)"; exit 1; }

# Settings that only start.sh reads (they change shibboleth2.xml).
sp_side() { grep -E '^(signature|idp-initiated|idp-metadata|authn-context)=' "$1" 2>/dev/null | sort || true; }

touch "$settings"
before=$(sp_side "$settings")
new=$(cat "$settings")
for arg in "$@"; do
    case $arg in
        reset) new='' ;;
        signature=assertion|signature=either|idp-initiated=on|idp-initiated=off|\
        idp-metadata=keys-without-use|idp-metadata=rsa-1024|\
        authn-context=password-protected-transport|\
        identity=name-id|identity=email-attribute|identity=oid-mail-attribute|\
        identity=entra-email-claim|identity=onelogin-email-attribute|identity=x500-email-attribute|\
        name-id-format=email|name-id-format=any)
            new=$(printf '%s\n' "$new" | grep -v "^${arg%%=*}=" || true)
            new=$(printf '%s\n%s\n' "$new" "$arg")
            ;;
        *) log "unknown setting: $arg"; exit 2 ;;
    esac
done
printf '%s\n' "$new" | sed '/^$/d' >"$settings.tmp"
chmod 0644 "$settings.tmp"
mv "$settings.tmp" "$settings"
after=$(sp_side "$settings")
log "settings now: $(tr '\n' ' ' <"$settings")"
[ "$before" = "$after" ] && exit 0

# Restart shibd and Apache with the new configuration, and wait until they answer.
generation=$(cat "$state/generation" 2>/dev/null || echo 0)
kill -HUP "$(cat "$state/start.pid")"
base_url=$(sed -n 's/^Listen \(.*\)$/http:\/\/\1/p' "$state/apache2.conf")
for _ in $(seq 300); do
    if [ "$(cat "$state/generation" 2>/dev/null || echo 0)" != "$generation" ] \
        && curl -fs -o /dev/null --max-time 2 "$base_url/Shibboleth.sso/Metadata"; then
        exit 0
    fi
    sleep 0.1
done
log "the SP did not come back within 30 s after the restart"
exit 1
