#!/usr/bin/env bash
# Installs the Debian packages whose real servers and tools the tests talk to
# (no mocks where the real thing can run: R-"real, not toy"). Idempotent: does
# nothing when they are all present. Needs root to install; otherwise it names
# what is missing and how to get it.
set -euo pipefail

# One package a line: the peer, and why the tests need it.
PEERS=(
  postgresql       # Store contract suite against a real PostgreSQL server
  nats-server      # Bus contract suite against a real NATS JetStream server
  freeradius-utils # radclient sends real RADIUS accounting packets to the attribution listener
  python3-aiosmtpd # a real SMTP server on loopback receives the subscriber notices
  chromium         # headless browser tests of the subscriber portal and operator console
  unbound          # RPZ consumer and upstream resolver in the DNS firewall and RPZ feed tests; bench/dns.ts's anchor
  bind9            # RPZ consumer (named) following Sakimori's feed by NOTIFY + IXFR
  dnsutils         # dig: the client in every DNS test, queried as a subscriber's resolver would be
  fstrm-bin        # fstrm_replay: a reference Frame Streams writer for the dnstap collector
  dnstap-ldns      # a reference dnstap reader, checks the frames the tests write
)

missing=()
for pkg in "${PEERS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-peers: missing Debian packages: ${missing[*]}" >&2
  echo "install-peers: run this as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "install-peers: installing ${missing[*]} ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-peers: done" >&2
