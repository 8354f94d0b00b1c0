#!/usr/bin/env bash
# Installs lcde's build dependencies from Debian's packages, only when missing.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config zstd libzstd-dev libsimdjson-dev
          libsentencepiece-dev sentencepiece libonig-dev libutf8proc-dev libcli11-dev libspdlog-dev libyaml-cpp-dev
          libgtest-dev nlohmann-json3-dev libssl-dev python3 python3-numpy python3-pytest)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
