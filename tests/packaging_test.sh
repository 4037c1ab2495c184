#!/bin/sh
# The unit's hardening figure, and the .deb: what it installs and that its
# maintainer scripts never start the service before a key and a config exist.
set -eu
src=$1
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
fail=0
pass=0
ok() { pass=$((pass + 1)); echo "ok: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; }

cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
exposure=$(systemd-analyze security --offline=yes "$build/igtokend.service" 2>/dev/null | sed -n 's/.*Overall exposure level for igtokend.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security --offline=yes igtokend.service: exposure $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }' && ok "exposure $exposure <= 2.0" || bad "exposure $exposure > 2.0"

(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/igtokend_*.deb)
contents=$(dpkg-deb -c "$deb")
for f in ./usr/sbin/igtokend ./usr/bin/igtokenctl ./usr/include/igtoken.h ./usr/share/man/man8/igtokend.8 \
	./usr/share/man/man1/igtokenctl.1 ./usr/share/man/man5/igtokend.yaml.5 ./etc/igtokend/igtokend.yaml \
	./lib/systemd/system/igtokend.service ./lib/systemd/system/igtokend.socket ./usr/lib/sysusers.d/igtokend.conf \
	./usr/lib/tmpfiles.d/igtokend.conf ./usr/share/bash-completion/completions/igtokenctl; do
	echo "$contents" | grep -q " $f\$" && ok "package has $f" || bad "package lacks $f"
done
echo "$contents" | grep -q 'libigtoken.so.0' && ok "package has libigtoken" || bad "package lacks libigtoken"
echo "$contents" | grep -q 'pkgconfig/igtoken.pc' && ok "package has igtoken.pc" || bad "package lacks igtoken.pc"
ctl=$(mktemp -d)
dpkg-deb -e "$deb" "$ctl"
grep -q '/etc/igtokend/igtokend.yaml' "$ctl/conffiles" && ok "the config is a conffile" || bad "the config is not a conffile"
if grep -E 'systemctl (start|enable|restart)' "$ctl/postinst" | grep -v '^\s*#' | grep -qv 'echo\|<<\|  systemctl enable --now'; then
	bad "postinst starts or enables the service"
else
	ok "postinst starts nothing"
fi
grep -q 'ExecStart=/usr/sbin/igtokend' "$build/igtokend.service" && ok "unit runs /usr/sbin/igtokend" || bad "unit ExecStart"
dpkg-deb -f "$deb" Depends | grep -q 'libsodium' && ok "shlibdeps found libsodium" || bad "Depends lacks libsodium"
rm -rf "$ctl"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
