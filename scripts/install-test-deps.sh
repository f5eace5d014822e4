#!/usr/bin/env bash
# Installs what the test suite needs beyond the .NET SDK: Debian's python3-msgpack, the
# independent MessagePack implementation the wire-interop tests check our frames against.
set -euo pipefail
if /usr/bin/python3 -c 'import msgpack' 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq python3-msgpack >/dev/null
/usr/bin/python3 -c 'import msgpack; print("python3-msgpack", msgpack.version)'
