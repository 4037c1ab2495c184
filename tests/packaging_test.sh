#!/bin/sh
# The Debian packages as built from this tree (tests/build-debs): lintian
# without errors (its warnings listed), files where the units point, the
# library split, the maintainer scripts' promises, and the unit's hardening.
set -eu
src=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
pass=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }

for tool in dpkg-buildpackage lintian systemd-analyze; do
	command -v $tool >/dev/null || { echo "FAIL: $tool is not installed (tools/dev deps)"; exit 1; }
done
"$src/tests/build-debs" "$src" "$out"
main=$(ls "$out"/igtokend_*.deb)
lib=$(ls "$out"/libigtoken0_*.deb)
dev=$(ls "$out"/libigtoken-dev_*.deb)

# lintian: no error; warnings and notes listed for the record
lint=$(lintian -I "$out"/igtokend_*.changes 2>/dev/null | grep -E '^[EWI]: ' || true)
echo "lintian: $(echo "$lint" | grep -c '^E: ' || true) errors, $(echo "$lint" | grep -c '^W: ' || true) warnings, $(echo "$lint" | grep -c '^I: ' || true) notes"
echo "$lint" | sed 's/^/  /'
echo "$lint" | grep -q '^E: ' && bad "lintian reports errors" || ok "lintian: no errors"

x=$(mktemp -d)
dpkg-deb -x "$main" "$x/main"
dpkg-deb -x "$lib" "$x/lib"
dpkg-deb -x "$dev" "$x/dev"
for f in usr/sbin/igtokend usr/bin/igtokenctl etc/igtokend/igtokend.yaml lib/systemd/system/igtokend.service \
	lib/systemd/system/igtokend.socket usr/lib/sysusers.d/igtokend.conf usr/lib/tmpfiles.d/igtokend.conf \
	usr/lib/systemd/catalog/igtokend.catalog usr/share/man/man8/igtokend.8.gz usr/share/man/man1/igtokenctl.1.gz \
	usr/share/man/man5/igtokend.yaml.5.gz usr/share/doc/igtokend/copyright usr/share/doc/igtokend/changelog.gz \
	usr/share/bash-completion/completions/igtokenctl usr/share/igtokend/prometheus/igtokend.rules.yml \
	usr/share/igtokend/grafana/igtokend.json usr/share/igtokend/clients/python/igtoken.py \
	usr/share/igtokend/clients/node/igtoken.js usr/share/igtokend/clients/php/igtoken.php; do
	[ -e "$x/main/$f" ] && ok "igtokend has /$f" || bad "igtokend lacks /$f"
done
# what the units run is what the package installs
for u in "$x"/main/lib/systemd/system/*.service; do
	for exe in $(grep -E '^Exec[A-Za-z]*=' "$u" | sed 's/^[^=]*=[-+@!:]*//; s/ .*//'); do
		[ -x "$x/main$exe" ] && ok "$(basename "$u") runs $exe, which the package has" ||
			bad "$(basename "$u") runs $exe, which the package lacks"
	done
done
grep -q '^RestartPreventExitStatus=64 78' "$x/main/lib/systemd/system/igtokend.service" && ok "no restart loop on exit 64/78" || bad "RestartPreventExitStatus"
grep -q '^ExecReload=+/usr/bin/igtokenctl reload' "$x/main/lib/systemd/system/igtokend.service" && ok "reload fails on a refused config" || bad "ExecReload"
grep -qE '^(vault|key):' "$x/main/etc/igtokend/igtokend.yaml" && bad "the shipped config overrides the vault or key defaults" || ok "the shipped config leaves vault and key to systemd"
# the library split
ls "$x"/lib/usr/lib/*/libigtoken.so.0 >/dev/null 2>&1 && ok "libigtoken0 has libigtoken.so.0" || bad "libigtoken0 lacks the library"
ls "$x"/main/usr/lib/*/libigtoken* >/dev/null 2>&1 && bad "igtokend ships the library too" || ok "igtokend leaves the library to libigtoken0"
for f in usr/include/igtoken.h usr/share/man/man3/igtoken_get.3.gz; do
	[ -e "$x/dev/$f" ] && ok "libigtoken-dev has /$f" || bad "libigtoken-dev lacks /$f"
done
ls "$x"/dev/usr/lib/*/libigtoken.so "$x"/dev/usr/lib/*/pkgconfig/igtoken.pc >/dev/null 2>&1 && ok "libigtoken-dev has the .so link and igtoken.pc" || bad "libigtoken-dev lacks the .so link or igtoken.pc"
dpkg-deb -f "$dev" Depends | grep -q 'libigtoken0 (= ' && ok "libigtoken-dev depends on its libigtoken0" || bad "libigtoken-dev Depends"
dpkg-deb -f "$main" Depends | grep -q 'libsodium' && ok "shlibdeps found libsodium" || bad "Depends lacks libsodium"
# maintainer scripts: a first install starts nothing; an upgrade try-restarts; removal stops
ctl=$x/ctl
dpkg-deb -e "$main" "$ctl"
grep -q '/etc/igtokend/igtokend.yaml' "$ctl/conffiles" && ok "the config is a conffile" || bad "the config is not a conffile"
grep -E '^[[:space:]]*(deb-systemd-invoke|systemctl) +(start|restart|enable)' "$ctl/postinst" && bad "postinst starts or enables the service" || ok "postinst starts nothing"
grep -q 'deb-systemd-invoke try-restart igtokend.service' "$ctl/postinst" && ok "an upgrade try-restarts the service" || bad "no try-restart on upgrade"
grep -q 'deb-systemd-invoke stop igtokend.service igtokend.socket' "$ctl/prerm" && ok "removal stops the service" || bad "removal leaves it running"
grep -qs 'stop' "$ctl/preinst" && bad "an upgrade stops the service before unpacking (it would stay stopped)" || ok "an upgrade does not stop it first"
exposure=$(systemd-analyze security --offline=yes "$x/main/lib/systemd/system/igtokend.service" 2>/dev/null | sed -n 's/.*Overall exposure level for igtokend.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security --offline=yes igtokend.service: exposure $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }' && ok "exposure $exposure <= 2.0" || bad "exposure $exposure > 2.0"
rm -rf "$x"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
