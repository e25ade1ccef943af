#!/bin/sh
# faasbed VM boot (busybox init's sysinit): mount, load modules, mount the disks, bring up the
# network from /data/faasbed/node.env, then print the READY line faasbed waits for. The k3s
# agent itself runs from `agent.sh` (respawned by init).
export PATH=/bin:/sbin
/bin/busybox --install -s /bin
say() { echo "faasbed: $*"; }
fail() { echo "FAASBED FAILED: $*"; exec sleep 2147483647; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp /var/lib /var/log /base /data /sys/fs/cgroup /root
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
for m in $(cat /etc/faasbed/early-modules); do modprobe "$m" || say "modprobe $m failed"; done

# Disks appear once virtio_blk probes: vda is the read-only base (modules, k3s), vdb this
# node's data (join config, k3s state).
n=0
while [ ! -b /dev/vdb ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
mount -o ro /dev/vda /base || fail "cannot mount the base disk /dev/vda"
mount /dev/vdb /data || fail "cannot mount the node disk /dev/vdb"
mount --bind /base/modules /lib/modules || fail "no /modules on the base disk"
[ -f /data/faasbed/node.env ] || fail "no /data/faasbed/node.env on the node disk"
. /data/faasbed/node.env

hostname "$NODE_NAME"
echo "127.0.0.1 localhost" > /etc/hosts
echo "$NODE_IP $NODE_NAME" >> /etc/hosts
: > /etc/resolv.conf
for d in $DNS; do echo "nameserver $d" >> /etc/resolv.conf; done
ip link set lo up
ip link set eth0 up || fail "no eth0 (virtio_net not loaded?)"
ip addr add "$NODE_IP/$NODE_PREFIX" dev eth0
ip route add default via "$GATEWAY"

# What k3s needs from the system, as the rancher/k3s image gives it: kubelet's and the pods'
# state on the node disk (not in RAM), shared mount propagation, a machine id, cgroup v2.
for d in kubelet:/var/lib/kubelet log:/var/log cni:/var/lib/cni; do
    mkdir -p "/data/${d%%:*}" "${d#*:}"
    mount --bind "/data/${d%%:*}" "${d#*:}" || fail "cannot bind /data/${d%%:*} to ${d#*:}"
done
mount --make-rshared / 2>/dev/null || say "cannot make / rshared"
[ -s /etc/machine-id ] || tr -d - < /proc/sys/kernel/random/uuid > /etc/machine-id
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
for m in overlay br_netfilter nf_conntrack iptable_nat iptable_filter xt_conntrack vxlan veth; do
    modprobe "$m" || say "modprobe $m failed"
done
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 2>/dev/null
ulimit -n 1048576

# The VM's clock starts from QEMU's RTC (whole seconds); faasbed compares this reading with the
# time the line reached the console file and records the offset.
clock=$(adjtimex | awk '/tv_sec/ { s = $2 } /tv_usec/ { u = $2 } END { printf "%d%06d000", s, u }')
echo "FAASBED READY node=$NODE_NAME ip=$NODE_IP kernel=$(uname -r) arch=$(uname -m) clock_ns=$clock"
