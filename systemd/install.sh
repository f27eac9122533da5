#!/bin/sh
# Installs Lithair as a systemd service.
#
#   systemd/install.sh [--bin PATH] [--prefix DIR]
#
# Environment: DESTDIR (stage into a directory instead of /), PREFIX
# (default /usr/local), UNITDIR (default /etc/systemd/system), SYSCONFDIR
# (default /etc), LITHAIR_BIN (same as --bin). Without --bin it builds the
# binary from this checkout with `go build`.
#
# What goes where (with the defaults):
#   $PREFIX/bin/lithair                       the binary
#   /etc/lithair/lithair.toml                 the configuration (kept if present:
#                                             the new one goes to lithair.toml.new)
#   /etc/lithair/rules/*.lua                  the example rules (only if rules/ is absent)
#   $PREFIX/share/lithair/examples/           the pristine config and rules, for reference
#   $PREFIX/share/doc/lithair/                README.md and docs/
#   /etc/systemd/system/lithair.service       the unit
#   $PREFIX/lib/sysusers.d/lithair.conf       the "lithair" system user
#   /var/lib/lithair                          the data dir: systemd creates it
#                                             (StateDirectory=) on the first start
#
# Installing into / (no DESTDIR) as root also creates the user and reloads
# systemd. It never enables nor starts the service; it prints how.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-/etc/systemd/system}
BIN=${LITHAIR_BIN:-}

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --bin=*) BIN=${1#--bin=}; shift ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --prefix=*) PREFIX=${1#--prefix=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

BINDIR=$PREFIX/bin
CONFDIR=$SYSCONFDIR/lithair
SHAREDIR=$PREFIX/share/lithair
DOCDIR=$PREFIX/share/doc/lithair
SYSUSERSDIR=$PREFIX/lib/sysusers.d
STATEDIR=/var/lib/lithair

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -z "$BIN" ]; then
  echo "building lithair from $here"
  version=$(git -C "$here" describe --tags --always --dirty 2>/dev/null || echo dev)
  (cd "$here" && go build -trimpath -ldflags "-X main.version=$version" -o "$tmp/lithair" ./cmd/lithair)
  BIN=$tmp/lithair
fi
[ -x "$BIN" ] || { echo "install.sh: $BIN is not an executable" >&2; exit 1; }

say() { printf '  %s\n' "$*"; }
echo "installing into ${DESTDIR:-/}"

# The binary.
install -d "$DESTDIR$BINDIR"
install -m 0755 "$BIN" "$DESTDIR$BINDIR/lithair"
say "$BINDIR/lithair"

# The configuration, set up for the service: data in the state directory,
# rules in the configuration directory.
sed -e "s|^dir = \"./data\"|dir = \"$STATEDIR\"|" \
    -e "s|^dir = \"./configs/rules\"|dir = \"$CONFDIR/rules\"|" \
    "$here/configs/lithair.toml" > "$tmp/lithair.toml"
grep -q "^dir = \"$STATEDIR\"" "$tmp/lithair.toml" && grep -q "^dir = \"$CONFDIR/rules\"" "$tmp/lithair.toml" || {
  echo "install.sh: configs/lithair.toml no longer has the dir lines this script rewrites" >&2; exit 1; }
install -d -m 0755 "$DESTDIR$CONFDIR"
conf_mode=0644
if [ -z "$DESTDIR" ] && getent group lithair >/dev/null 2>&1; then conf_mode=0640; fi
if [ -e "$DESTDIR$CONFDIR/lithair.toml" ]; then
  install -m "$conf_mode" "$tmp/lithair.toml" "$DESTDIR$CONFDIR/lithair.toml.new"
  say "$CONFDIR/lithair.toml kept; the new default is $CONFDIR/lithair.toml.new (compare them)"
else
  install -m "$conf_mode" "$tmp/lithair.toml" "$DESTDIR$CONFDIR/lithair.toml"
  say "$CONFDIR/lithair.toml"
fi
if [ -d "$DESTDIR$CONFDIR/rules" ]; then
  say "$CONFDIR/rules kept"
else
  install -d -m 0755 "$DESTDIR$CONFDIR/rules"
  for f in "$here"/configs/rules/*.lua; do install -m 0644 "$f" "$DESTDIR$CONFDIR/rules/"; done
  say "$CONFDIR/rules/ (the example rules)"
fi

# Pristine copies and documentation.
install -d "$DESTDIR$SHAREDIR/examples/rules" "$DESTDIR$DOCDIR/docs"
install -m 0644 "$here/configs/lithair.toml" "$DESTDIR$SHAREDIR/examples/lithair.toml"
for f in "$here"/configs/rules/*.lua; do install -m 0644 "$f" "$DESTDIR$SHAREDIR/examples/rules/"; done
install -m 0644 "$here/README.md" "$DESTDIR$DOCDIR/README.md"
for f in "$here"/docs/*.md; do [ -e "$f" ] && install -m 0644 "$f" "$DESTDIR$DOCDIR/docs/"; done
say "$SHAREDIR/examples/, $DOCDIR/"

# The unit, pointing at the installed binary and config.
install -d "$DESTDIR$UNITDIR"
sed -e "s|/usr/local/bin/lithair|$BINDIR/lithair|g" \
    -e "s|/etc/lithair/lithair.toml|$CONFDIR/lithair.toml|g" \
    -e "s|file:/usr/local/share/doc/lithair/README.md|file:$DOCDIR/README.md|" \
    "$here/systemd/lithair.service" > "$tmp/lithair.service"
install -m 0644 "$tmp/lithair.service" "$DESTDIR$UNITDIR/lithair.service"
say "$UNITDIR/lithair.service"

# The user.
install -d "$DESTDIR$SYSUSERSDIR"
install -m 0644 "$here/systemd/lithair.sysusers" "$DESTDIR$SYSUSERSDIR/lithair.conf"
say "$SYSUSERSDIR/lithair.conf"
if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ]; then
  if ! getent passwd lithair >/dev/null 2>&1; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
      systemd-sysusers "$SYSUSERSDIR/lithair.conf"
    else
      useradd --system --user-group --home-dir "$STATEDIR" --no-create-home --shell /usr/sbin/nologin lithair
    fi
    say "created the system user lithair"
  fi
  chgrp lithair "$CONFDIR/lithair.toml" && chmod 0640 "$CONFDIR/lithair.toml"
  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
elif [ -n "$DESTDIR" ]; then
  say "(DESTDIR: the lithair user is created by systemd-sysusers from lithair.conf when the tree is installed)"
fi

cat <<EOF

Next:
  $BINDIR/lithair config check $CONFDIR/lithair.toml   # review the configuration
  systemctl enable --now lithair                       # start it, and at boot
  systemctl status lithair; journalctl -u lithair -f   # watch it
  systemctl reload lithair                             # after editing $CONFDIR/rules
EOF
