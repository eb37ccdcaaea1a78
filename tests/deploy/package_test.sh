#!/usr/bin/env bash
# Specification of the Debian package, on this machine: cpack builds pgpitr_VERSION_ARCH.deb from
# the build dir; `apt-get install ./pgpitr_*.deb` installs a working /usr/bin/pgpitr (--version,
# --help), its man page, the pgpitr@.service template and the pgpitr user with a 0700
# /var/lib/pgpitr; the postinst can run again; a purge removes the binary and keeps a repository
# that holds data. Everything the test adds is removed again (the user and folders only when they
# did not exist before). Run by ctest (label package, RUN_SERIAL), as root:
#   bash tests/deploy/package_test.sh BUILD_DIR VERSION
# Exit code 77 (ctest's SKIP_RETURN_CODE) when it cannot run here.
set -euo pipefail
build=$(cd "$1" && pwd)
version=$2

skip() {
  echo "SKIPPED: $*"
  exit 77
}
fail() {
  echo "FAILED: $*" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || skip "the package test installs a .deb and needs root (run ctest as root)"
for tool in apt-get dpkg dpkg-deb cpack; do
  command -v "$tool" >/dev/null || skip "$tool is missing (the package test needs a Debian machine with cpack)"
done
if dpkg-query -W -f='${Status}' pgpitr 2>/dev/null | grep -q "ok installed"; then
  skip "a pgpitr package is already installed here; the test leaves it alone (apt-get purge pgpitr to run it)"
fi
[ -e /usr/bin/pgpitr ] && skip "/usr/bin/pgpitr exists and belongs to no package; the test will not overwrite it"

had_user=no had_group=no had_state=no had_etc=no
getent passwd pgpitr >/dev/null && had_user=yes
getent group pgpitr >/dev/null && had_group=yes
[ -e /var/lib/pgpitr ] && had_state=yes
[ -e /etc/pgpitr ] && had_etc=yes
work=$(mktemp -d /tmp/pgpitr-package-test-XXXXXX)
apt=(apt-get -y -q -o DPkg::Lock::Timeout=120)
cleanup() {
  if dpkg-query -W -f='${Status}' pgpitr 2>/dev/null | grep -q "installed"; then
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" purge pgpitr >/dev/null 2>&1 || dpkg --purge pgpitr >/dev/null 2>&1 || true
  fi
  [ "$had_state" = no ] && rm -rf /var/lib/pgpitr
  [ "$had_etc" = no ] && rm -rf /etc/pgpitr
  [ "$had_user" = no ] && getent passwd pgpitr >/dev/null && userdel pgpitr
  [ "$had_group" = no ] && getent group pgpitr >/dev/null && groupdel pgpitr
  rm -rf "$work"
}
trap cleanup EXIT

echo "== cpack"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1 || {
  cat "$work/cpack.log"
  fail "cpack could not build the package"
}
debs=("$work"/pgpitr_"$version"_*.deb)
[ -f "${debs[0]}" ] || fail "cpack made no pgpitr_${version}_*.deb in $work: $(ls "$work")"
deb=${debs[0]}
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

echo "== its control fields and contents"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
# From dpkg-shlibdeps (RocksDB is linked statically, its compression libraries are not).
for dep in libpq5 libprotobuf libzstd1 "postgresql-client-15 | postgresql-client (>= 15)"; do
  [[ $depends == *"$dep"* ]] || fail "Depends lacks $dep: $depends"
done
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version is $(dpkg-deb -f "$deb" Version), not $version"
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/pgpitr ./lib/systemd/system/pgpitr@.service ./usr/share/man/man1/pgpitr.1.gz \
  ./usr/share/doc/pgpitr/examples/app.toml ./usr/share/doc/pgpitr/examples/pgpitr.toml; do
  grep -q " $f\$" <<<"$contents" || fail "the package lacks $f:"$'\n'"$contents"
done

echo "== apt-get install ./$(basename "$deb")"
(cd "$work" && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "./$(basename "$deb")") >"$work/install.log" 2>&1 || {
  cat "$work/install.log"
  fail "apt-get install of the package failed"
}

echo "== the installed pgpitr"
out=$(/usr/bin/pgpitr --version) || fail "pgpitr --version exited $?"
echo "$out"
[[ $out == "pgpitr $version"* ]] || fail "--version does not start with 'pgpitr $version': $out"
[[ $out == *RocksDB* ]] || fail "--version does not name the RocksDB version: $out"
[[ $out == *libpq* || $out == *PostgreSQL* ]] || fail "--version does not name the PostgreSQL client: $out"
help=$(/usr/bin/pgpitr --help) || fail "pgpitr --help exited $?"
for command in run backup info restore verify retention mark uninstall demo; do
  grep -qE "^  $command( |$)" <<<"$help" || fail "--help does not list '$command':"$'\n'"$help"
done
/usr/bin/pgpitr restore --help | grep -q -- "--to-time" || fail "pgpitr restore --help does not show --to-time"

echo "== man page"
page=$(MANWIDTH=100 MAN_KEEP_FORMATTING=0 man -P cat -l /usr/share/man/man1/pgpitr.1.gz 2>"$work/man.err") ||
  fail "man -l cannot render the page: $(cat "$work/man.err")"
grep -q "pgpitr - point-in-time restore" <<<"$page" || fail "the man page has no NAME line:"$'\n'"$page"
for command in run backup info restore verify retention mark uninstall demo; do
  grep -qE "^ *pgpitr $command( |$)" <<<"$page" || fail "the man page has no section for '$command'"
done
[ "$(man -w pgpitr 2>/dev/null)" = /usr/share/man/man1/pgpitr.1.gz ] || fail "'man pgpitr' does not find the page"
grep -q "warning" "$work/man.err" && fail "groff warns about the page: $(cat "$work/man.err")"

echo "== the unit, the user and the repository folder"
unit=/lib/systemd/system/pgpitr@.service
[ -f "$unit" ] || fail "$unit is missing"
grep -q '^ExecStart=/usr/bin/pgpitr run --config /etc/pgpitr/%i.toml' "$unit" || fail "$unit does not run pgpitr run --config"
if command -v systemd-analyze >/dev/null; then
  verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $verify"
  [ -z "$verify" ] || fail "systemd-analyze verify $unit: $verify"
  echo "systemd-analyze verify: clean"
else
  echo "systemd-analyze is not installed: the unit is not verified"
fi
IFS=: read -r _ _ _ _ _ home shell <<<"$(getent passwd pgpitr)" || fail "the pgpitr user does not exist"
[ "$home" = /var/lib/pgpitr ] || fail "pgpitr's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "pgpitr's shell is $shell"
[ "$(stat -c '%a %U' /var/lib/pgpitr)" = "700 pgpitr" ] || fail "/var/lib/pgpitr is $(stat -c '%a %U' /var/lib/pgpitr)"
[ "$(stat -c '%a %U %G' /etc/pgpitr)" = "750 root pgpitr" ] || fail "/etc/pgpitr is $(stat -c '%a %U %G' /etc/pgpitr)"
# The installed example configuration is one pgpitr accepts: loading it is the first thing any
# command does, so `verify` of a missing repository fails on the repository, not on the file.
example=/usr/share/doc/pgpitr/examples/app.toml
example_err=$(/usr/bin/pgpitr verify --config "$example" --repo "$work/no-repo" 2>&1) && fail "verify of a missing repository succeeded"
[[ $example_err != *app.toml* ]] || fail "the example configuration is refused: $example_err"

echo "== the postinst runs again without changing anything"
before=$(getent passwd pgpitr; stat -c '%a %U %G' /var/lib/pgpitr /etc/pgpitr)
/var/lib/dpkg/info/pgpitr.postinst configure "$version" || fail "a second postinst run failed"
[ "$(getent passwd pgpitr; stat -c '%a %U %G' /var/lib/pgpitr /etc/pgpitr)" = "$before" ] || fail "a second postinst changed things"

echo "== apt-get purge keeps a repository that holds data"
mkdir -p /var/lib/pgpitr/app
echo "a repository" >/var/lib/pgpitr/app/CURRENT
DEBIAN_FRONTEND=noninteractive "${apt[@]}" purge pgpitr >"$work/purge.log" 2>&1 || {
  cat "$work/purge.log"
  fail "apt-get purge pgpitr failed"
}
[ ! -e /usr/bin/pgpitr ] || fail "/usr/bin/pgpitr is still there after the purge"
[ ! -e "$unit" ] || fail "$unit is still there after the purge"
[ -f /var/lib/pgpitr/app/CURRENT ] || fail "the purge deleted a repository"
grep -q "kept /var/lib/pgpitr" "$work/purge.log" || fail "the purge did not say it kept /var/lib/pgpitr:"$'\n'"$(cat "$work/purge.log")"
[ ! -e /etc/pgpitr ] || fail "the purge left the empty /etc/pgpitr"
echo "PASSED: the package builds, installs, runs and purges cleanly"
