#!/usr/bin/env bash
# Runs the Shibboleth SP target in the foreground: shibd (-F) and Apache (-DFOREGROUND) with
# mod_shib, on loopback, with every file of theirs in a state folder (never /etc/apache2 or
# /etc/shibboleth's own configuration, /run or /var/log).
#
#   SIGTERM, SIGINT  stop both (Apache with its children: workers, the CGI daemon); exit 0
#   SIGHUP           stop both, render the configuration again (settings.sh's settings), start
#                    both; $state/generation counts the starts
#   either one dying on its own stops the other; exit 1
#
# Environment (the target file passes them; the defaults suit a run by hand):
#   IDP_METADATA_URL  the mock IdP's metadata (required)
#   IDP_ENTITY_ID     its entityID (default: read from the metadata)
#   SP_BASE_URL       http://127.0.0.1:8480; Apache listens on its host:port
#   SP_ENTITY_ID      SP_BASE_URL/shibboleth (Shibboleth's own convention)
#   SHIB_SP_STATE     the state folder (default: .state beside this script)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state=${SHIB_SP_STATE:-$here/.state}
sp_base_url=${SP_BASE_URL:-http://127.0.0.1:8480}
sp_entity_id=${SP_ENTITY_ID:-$sp_base_url/shibboleth}
idp_metadata_url=${IDP_METADATA_URL:?IDP_METADATA_URL is required (the mock IdP metadata URL)}
hostport=${sp_base_url#http://}
hostport=${hostport%%/*}
case $hostport in
    127.*:*|localhost:*) ;;
    *) echo "start.sh: SP_BASE_URL must be http://127.x.x.x:PORT (loopback only), not $sp_base_url" >&2; exit 2 ;;
esac

log() { echo "start.sh: $*" >&2; }

for tool in shibd apache2 shib-keygen curl perl; do
    command -v "$tool" >/dev/null || { log "$tool is missing: run 'cargo xtask setup' (apache2 libapache2-mod-shib curl)"; exit 2; }
done

# Leftovers of an earlier run that was killed hard: end them by their pid, and only if the
# process is really ours (its command line names this state folder).
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
stop_pid_file() {
    local pidfile=$1 pid
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$state/"; then
        log "stopping a leftover process $pid ($pidfile)"
        kill -TERM "$pid" 2>/dev/null || true
        # Gone, or a zombie its new parent has not reaped yet.
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}
stop_pid_file "$state/apache/apache2.pid"
stop_pid_file "$state/shibd.pid"

if [ "$(id -u)" = 0 ]; then
    shibd_user=_shibd shibd_group=_shibd web_user=www-data web_group=www-data
else
    shibd_user=$(id -un) shibd_group=$(id -gn) web_user='' web_group=''
fi

mkdir -p "$state/shibd" "$state/apache" "$state/log"
if [ "$(id -u)" = 0 ]; then
    chown "$shibd_user:$shibd_group" "$state/shibd" "$state/log"
fi
chmod 0755 "$state/shibd"   # as the package's /run/shibboleth; the private keys are 0600
for f in shibd.log transaction.log signature.log; do
    [ -f "$state/log/$f" ] && mv -f "$state/log/$f" "$state/log/$f.1"
done
# A run starts from the package's behaviour: no setting of settings.sh's is kept.
: >"$state/settings"; chmod 0644 "$state/settings"
echo "$$" >"$state/start.pid"

# The SP's two key pairs (signing, encryption), made once with the package's shib-keygen
# (RSA-3072, self-signed, 10 years) and kept: the IdP reads the certificates from the SP's
# metadata anyway.
for purpose in signing encrypt; do
    if [ ! -s "$state/shibd/sp-$purpose-key.pem" ]; then
        log "making the SP's $purpose key (shib-keygen)"
        shib-keygen -b -o "$state/shibd" -n "sp-$purpose" -u "$shibd_user" -g "$shibd_group" \
            -h 127.0.0.1 -e "$sp_entity_id" -y 10 >/dev/null 2>&1
    fi
done

# The IdP's entityID, when not given: read from its metadata.
idp_entity_id=${IDP_ENTITY_ID:-}
if [ -z "$idp_entity_id" ]; then
    metadata=$(curl -fsS --retry 20 --retry-delay 1 --retry-connrefused --max-time 30 "$idp_metadata_url") \
        || { log "cannot read the IdP metadata at $idp_metadata_url"; exit 2; }
    idp_entity_id=$(printf '%s' "$metadata" | perl -0ne 'print $1 if /<(?:\w+:)?EntityDescriptor\b[^>]*\bentityID="([^"]+)"/')
    [ -n "$idp_entity_id" ] || { log "no entityID in the IdP metadata at $idp_metadata_url"; exit 2; }
fi

# What settings.sh's settings change in shibboleth2.xml (see the README's "Settings").
setting() { grep -qxF "$1" "$state/settings" 2>/dev/null; }
render_all() {
    local application='' sso='' metadata_url=$idp_metadata_url
    # The SP wants the Assertion signed (a signed Response alone is no longer enough).
    setting signature=assertion && application+=' requireSignedAssertions="true"'
    # Unsolicited responses refused: the package's own "blockUnsolicited" policy
    # (security-policy.xml), which also ties InResponseTo to a request of this SP.
    setting idp-initiated=off && application+=' policyId="blockUnsolicited"'
    # The SP requests PasswordProtectedTransport (cgi/whoami requires it: Shibboleth itself
    # leaves the check to the application).
    setting authn-context=password-protected-transport \
        && sso+=' authnContextClassRef="urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"'
    # Other views of the IdP's metadata (the mock IdP's query options).
    setting idp-metadata=keys-without-use && metadata_url+='?key_use=omit'
    setting idp-metadata=rsa-1024 && metadata_url+='?weak_key=include'

    # (set -e does not hold in a function called before ||, hence the explicit returns.)
    render "$here/conf/shibboleth2.xml.in" "$state/shibboleth2.xml" xml \
        IDP_METADATA_URL="$metadata_url" APPLICATION_SETTINGS="$application" SSO_SETTINGS="$sso" || return 2
    render "$here/conf/shibd.logger.in" "$state/shibd.logger" text || return 2
    render "$here/conf/apache2.conf.in" "$state/apache2.conf" text || return 2
    cp "$here/conf/native.logger" "$state/native.logger" || return 2
    # The package's attribute map with the additions inserted before its end.
    perl -0pe 'BEGIN { local $/; open my $f, "<", shift @ARGV or die; $extra = <$f> } s{</Attributes>\s*$}{$extra</Attributes>\n} or die "no </Attributes>"' \
        "$here/conf/attribute-map.extra.xml" /etc/shibboleth/attribute-map.xml >"$state/attribute-map.xml" || return 2
    chmod 0644 "$state"/*.xml "$state"/*.logger "$state/apache2.conf"
}
# render TEMPLATE OUTPUT xml|text [NAME=VALUE...]: the template with @NAMES@ filled in
# (values XML-escaped in xml mode; APPLICATION_SETTINGS and SSO_SETTINGS are XML already).
render() {
    local template=$1 output=$2 mode=$3
    shift 3
    env STATE="$state" HERE="$here" SP_ENTITY_ID="$sp_entity_id" IDP_ENTITY_ID="$idp_entity_id" \
        BIND="$hostport" SERVER_NAME="$hostport" \
        USER_GROUP="${web_user:+User $web_user
Group $web_group}" MODE="$mode" "$@" perl -pe '
        sub esc { my $v = shift; if ($ENV{MODE} eq "xml") { $v =~ s/&/&amp;/g; $v =~ s/</&lt;/g; $v =~ s/"/&quot;/g } $v }
        s/@([A-Z_]+)@/my $n = $1; exists $ENV{$n} ? ($n =~ m{_SETTINGS$} ? $ENV{$n} : esc($ENV{$n})) : die("unknown \@$n\@ in $ARGV\n")/ge' \
        "$template" >"$output.tmp" || return 1
    mv "$output.tmp" "$output"
}

shibd_pid='' apache_pid=''
stop_children() {
    [ -n "$apache_pid" ] && kill -TERM "$apache_pid" 2>/dev/null
    [ -n "$shibd_pid" ] && kill -TERM "$shibd_pid" 2>/dev/null
    [ -n "$apache_pid" ] && wait "$apache_pid" 2>/dev/null
    [ -n "$shibd_pid" ] && wait "$shibd_pid" 2>/dev/null
    apache_pid='' shibd_pid=''
    rm -f "$state/shibd/shibd.sock" "$state/shibd.pid" "$state/apache/apache2.pid" "$state/apache/cgid.sock"
}
start_children() {
    render_all || { log "cannot write the configuration to $state"; return 2; }
    shibd -t -c "$state/shibboleth2.xml" >"$state/log/shibd-check.log" 2>&1 \
        || { cat "$state/log/shibd-check.log" >&2; log "shibd -t refused the configuration $state/shibboleth2.xml"; return 2; }
    log "starting shibd (entityID $sp_entity_id, IdP $idp_entity_id; settings: $(tr '\n' ' ' <"$state/settings" 2>/dev/null || true))"
    local args=(-F -f -c "$state/shibboleth2.xml")
    [ "$(id -u)" = 0 ] && args+=(-u "$shibd_user" -g "$shibd_group")
    shibd "${args[@]}" &
    shibd_pid=$!
    echo "$shibd_pid" >"$state/shibd.pid"   # shibd -F writes none; for the leftover check above
    for _ in $(seq 300); do
        [ -S "$state/shibd/shibd.sock" ] && break
        kill -0 "$shibd_pid" 2>/dev/null || { shibd_pid=''; log "shibd exited during start-up"; return 1; }
        sleep 0.1
    done
    [ -S "$state/shibd/shibd.sock" ] || { log "shibd did not open its socket in 30 s"; return 1; }
    log "starting Apache on $hostport"
    apache2 -f "$state/apache2.conf" -DFOREGROUND &
    apache_pid=$!
    generation=$((generation + 1))
    echo "$generation" >"$state/generation"
}

restart=0 generation=0
trap 'trap - TERM INT HUP; stop_children; rm -f "$state/start.pid"; log "stopped"; exit 0' TERM INT
trap 'restart=1' HUP

start_children || { status=$?; stop_children; exit "$status"; }
while :; do
    while [ "$restart" = 0 ] && kill -0 "$shibd_pid" 2>/dev/null && kill -0 "$apache_pid" 2>/dev/null; do
        wait -n "$shibd_pid" "$apache_pid" 2>/dev/null || true
    done
    if [ "$restart" = 1 ]; then
        restart=0
        log "restarting shibd and Apache with the settings: $(tr '\n' ' ' <"$state/settings" 2>/dev/null || true)"
        stop_children
        start_children || { status=$?; stop_children; exit "$status"; }
        continue
    fi
    log "shibd or Apache exited on its own; stopping the other"
    kill -0 "$shibd_pid" 2>/dev/null || shibd_pid=''
    kill -0 "$apache_pid" 2>/dev/null || apache_pid=''
    stop_children
    rm -f "$state/start.pid"
    exit 1
done
