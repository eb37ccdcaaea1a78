#!/usr/bin/env bash
# The main job on its embedded default: installs, builds, then shows a point-in-time restore on a
# throwaway local PostgreSQL (`pgpitr demo`). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install.sh
bash deploy/build.sh
exec build/cli/pgpitr demo "$@"
