#!/usr/bin/env bash
# Installs the system tools weft's lab, tests and benchmarks use, from
# Debian's packages. Idempotent: does nothing when everything is present.
set -euo pipefail
# command -> Debian package
declare -A need=(
  [ip]=iproute2 [curl]=curl [ping]=iputils-ping [arping]=iputils-arping [iperf3]=iperf3
  [tcpdump]=tcpdump [tshark]=tshark [ovs-vswitchd]=openvswitch-switch [etcd]=etcd-server [ethtool]=ethtool
  # The 64-byte packet bench's sender.
  [trafgen]=netsniff-ng
  [dig]=bind9-dnsutils [dnsperf]=dnsperf [nsd]=nsd [unbound]=unbound [python3]=python3 [g++]=g++ [make]=make
  # Docker tests: dockerd itself (a bare 'docker' client may exist without it), and a static
  # busybox to build their image with 'docker import' instead of pulling one from a registry.
  [dockerd]=docker.io [busybox]=busybox-static
  # CNI tests: podman (forced onto its CNI backend), its runtime and monitor, and nsenter.
  [podman]=podman [crun]=crun [conmon]=conmon [nsenter]=util-linux
  # The web view's tests and its README screenshot: a real headless browser.
  [chromium]=chromium
  # The service catalog's demo: nginx as the load balancer whose upstreams weft renders.
  [nginx]=nginx
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
# CNI plugins are not on PATH: Debian puts them in /usr/lib/cni (the weft CNI tests chain with them).
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
# The add-on compiles capture filters with libpcap (tcpdump's syntax): npm ci needs its headers.
[ -f /usr/include/pcap/pcap.h ] || missing+=(libpcap-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
