#!/usr/bin/env bash
# Installs the Debian packages the tests (and the benchmarks) run for real, those not installed yet.
# Run as root, or as a user with sudo. .ci/run calls it; so does `npm test` (scripts/test-deps.mjs)
# when a tool is missing and it may install.
#   golang-go golang-github-golang-groupcache-dev  the Go interop test builds a real groupcache peer, offline
#   openssl         the https tests make their certificates
#   dnsmasq         the DNS discovery tests run their own on 127.0.0.1:<free port>
#   prometheus      the metrics tests scrape with a real Prometheus
#   chromium        the dashboard tests drive headless Chromium
#   redis-server    the bench's Redis comparison rows start their own redis-server
#   wrk             the HTTP benchmarks
# Quietly, without recommends. Tests start each server themselves on a free loopback port: no
# service may be started by the install (dnsmasq's would take port 53).
set -euo pipefail

packages=(golang-go golang-github-golang-groupcache-dev openssl dnsmasq prometheus chromium redis-server wrk)
services=(dnsmasq prometheus redis-server)

command -v apt-get >/dev/null && command -v dpkg-query >/dev/null || {
  echo "install-test-deps: not a Debian machine (no apt-get); install these by hand: ${packages[*]}" >&2
  exit 1
}
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ "${#missing[@]}" -gt 0 ] || exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-test-deps: run as root (no sudo here) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101 tells invoke-rc.d / deb-systemd-invoke not to start what they install.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ -z "$policy" ] || { $sudo rm -f "$policy"; trap - EXIT; }
# Should one of the services just installed have started anyway (or be enabled for the next
# boot): stop and disable it. Services that were there before are left alone.
for svc in "${services[@]}"; do
  [[ " ${missing[*]} " == *" $svc "* ]] || continue
  if [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    $sudo "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  fi
done
if [[ " ${missing[*]} " == *" dnsmasq "* ]] && pgrep -x dnsmasq >/dev/null; then
  echo "dnsmasq is running after its install (it would hold port 53); stop it: the tests start their own" >&2
  exit 1
fi
