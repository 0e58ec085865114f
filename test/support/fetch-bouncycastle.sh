#!/usr/bin/env bash
# Puts Bouncy Castle 1.80's jars (bcprov, bctls, bcutil: DTLS with Connection ID, RFC 9146) into
# ${BC_JAR_DIR:-/opt/bouncycastle-1.80} for test/support/bc-dtls-peer.js. Debian bookworm ships
# 1.72, which has no CID; trixie's libbc*-java packages are architecture-independent jars, so they
# are downloaded (not installed) through a private apt list and only their jars are unpacked.
set -euo pipefail
dest="${BC_JAR_DIR:-/opt/bouncycastle-1.80}"
if [ -f "$dest/bctls.jar" ] && [ -f "$dest/bcprov.jar" ] && [ -f "$dest/bcutil.jar" ]; then exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/x"
# The Debian archive this machine already uses (its apt sources, deb822 or one-line format), asked
# for the newer suite: no other source is named here.
archive="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
[ -n "$archive" ] || archive="$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)"
if [ -z "$archive" ]; then echo "fetch-bouncycastle: no Debian archive found in this machine's apt sources" >&2; exit 1; fi
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $archive trixie main" > "$work/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" -qq update
(cd "$work" && apt-get "${apt_opts[@]}" -qq download libbcprov-java libbctls-java libbcutil-java)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
mkdir -p "$dest"
for jar in bcprov bctls bcutil; do cp -L "$work/x/usr/share/java/$jar.jar" "$dest/$jar.jar"; done
echo "Bouncy Castle jars in $dest"
