#!/usr/bin/env bash
# `make dev`: Keyward on SQLite with a key file, plus a local OpenID Provider with demo users.
# Everything lives in .dev/ (mode 0700); delete it to start from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV_DIR=${DEV_DIR:-.dev}
LISTEN=${DEV_LISTEN:-127.0.0.1:8080}
IDP_PORT=${DEV_IDP_PORT:-8081}
BIN=target/debug/keyward
BASE="http://$LISTEN"
ISSUER="http://127.0.0.1:$IDP_PORT"

mkdir -p "$DEV_DIR" && chmod 700 "$DEV_DIR"
DEV_DIR=$(cd "$DEV_DIR" && pwd)
[ -d tests/oidc/node_modules ] || npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error

cat > "$DEV_DIR/keyward.toml" <<TOML
# Written by deploy/dev.sh for local development.
listen = "$LISTEN"
public_url = "$BASE"

[database]
url = "sqlite://$DEV_DIR/keyward.db?mode=rwc"

[keys]
key_file = "$DEV_DIR/keys.json"

[log]
format = "pretty"
level = "info"

[oidc]
issuer = "$ISSUER"
client_id = "keyward"
client_secret = "keyward-dev-secret"

[[role_bindings]]
group = "sns-marketing"
team = "marketing"
role = "operator"

[[role_bindings]]
group = "sns-marketing-leads"
team = "marketing"
role = "manager"

[[role_bindings]]
group = "sns-viewers"
team = "marketing"
role = "viewer"

[[role_bindings]]
group = "security"
team = "*"
role = "security_admin"

[[role_bindings]]
group = "auditors"
team = "*"
role = "auditor"
TOML
export KEYWARD_CONFIG="$DEV_DIR/keyward.toml"
for var in $(env | grep -o '^KEYWARD_[A-Z_]*' | grep -v '^KEYWARD_CONFIG$'); do unset "$var"; done

[ -f "$DEV_DIR/keys.json" ] || "$BIN" keys init --key-file "$DEV_DIR/keys.json"
"$BIN" migrate
token() { # name role team
  local file="$DEV_DIR/$1.token"
  [ -f "$file" ] || (umask 077; "$BIN" token create --name "dev-$1" --role "$2" --team "$3" | tail -n 1 > "$file")
}
token manager manager '*'
token operator operator marketing
token security-admin security_admin '*'
token scim scim '*'

REDIRECT_URIS="$BASE/auth/callback" BACKCHANNEL_LOGOUT_URI="$BASE/auth/backchannel-logout" PORT="$IDP_PORT" ISSUER="$ISSUER" node tests/oidc/provider.mjs \
  > "$DEV_DIR/idp.log" 2>&1 &
IDP_PID=$!
trap 'kill $IDP_PID 2>/dev/null || true' EXIT INT TERM

# Once the server answers, a first run seeds a demo account with a TOTP seed and backup codes,
# so there is something to reveal right away.
seed_demo() {
  local auth="Authorization: Bearer $(cat "$DEV_DIR/manager.token")" json='Content-Type: application/json'
  for _ in $(seq 1 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.2; done
  [ -f "$DEV_DIR/seeded" ] && return 0
  local id
  id=$(curl -sf -H "$auth" -H "$json" -d '{"team":"marketing","platform":"instagram","handle":"@keyward_demo","login_url":"https://www.instagram.com/accounts/login/","notes":"Demo account made by make dev"}' \
    "$BASE/api/v1/accounts" | sed 's/.*"id":"\([^"]*\)".*/\1/') || return 0
  curl -sf -X PUT -H "$auth" -H "$json" -d '{"otpauth_uri":"otpauth://totp/Instagram:keyward_demo?secret=6QPONMYIMP6SKWAI4EGMK7HFNZBRDGXL&issuer=Instagram"}' \
    "$BASE/api/v1/accounts/$id/totp" >/dev/null
  curl -sf -H "$auth" -H "$json" -d '{"block":"1. 8364 2091    6. 4417 9930\n2. 1947 6625    7. 2285 0163\n3. 7203 9184    8. 9051 3378\n4. 5520 7318    9. 6148 2297\n5. 3089 4456   10. 6631 0572","issued_on":"2025-12-16"}' \
    "$BASE/api/v1/accounts/$id/backup-codes" >/dev/null
  touch "$DEV_DIR/seeded"
  echo "  Demo account @keyward_demo ready: $BASE/accounts/$id"
}
command -v curl >/dev/null && seed_demo &

cat <<MSG

  Keyward is starting.  Open  $BASE  in your browser.

  Sign in with a demo user of the local identity provider ($ISSUER), password "demo":
    alice   operator, team marketing       (reveals codes, checks out backup codes)
    mia     manager, team marketing        (edits accounts, seeds, backup codes, passwords)
    victor  viewer, team marketing
    sam     security admin, every team     (exports seeds, offboards members, reads the audit trail)
    olga    auditor, every team
    nora    no groups (sees the "no team yet" page)
    uma     viewer whose email the IdP has not verified (Keyward keeps none)

  API tokens (in $DEV_DIR/):
    manager, every team:       $(cat "$DEV_DIR/manager.token")
    operator, team marketing:  $(cat "$DEV_DIR/operator.token")
    security_admin, org-wide:  $(cat "$DEV_DIR/security-admin.token")
    scim (provisioning):       $(cat "$DEV_DIR/scim.token")   SCIM base URL: $BASE/scim/v2
  Try:  curl -s -H "Authorization: Bearer \$(cat $DEV_DIR/manager.token)" $BASE/api/v1/me
  Check the setup:  $BIN --config $DEV_DIR/keyward.toml doctor

  Ctrl-C stops both.

MSG
# The dashboard speaks Japanese too; without a CJK font a browser on this machine draws boxes.
if ! { command -v fc-list >/dev/null && fc-list :lang=ja family | grep -q .; }; then
  cat <<MSG
  Note: no Japanese (CJK) font found here, so a browser on this machine shows the Japanese
  dashboard as boxes. On Debian or Ubuntu:  sudo apt-get install fonts-noto-cjk

MSG
fi
"$BIN" serve
