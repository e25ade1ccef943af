#!/bin/sh
# faasbed VM agent (respawned by busybox init): the k3s agent with the join config faasbed wrote
# to the node disk. Its log goes to the console, which QEMU writes to RUN/nodes/NODE/console.log.
# Without a k3s binary on the base disk it says so once and waits.
export PATH=/bin:/sbin
if [ ! -x /base/k3s ]; then
    echo "FAASBED FAILED: no k3s binary on the base disk (/base/k3s)"
    exec sleep 2147483647
fi
echo "faasbed: starting k3s agent"
/base/k3s agent --config /data/faasbed/k3s.yaml 2>&1
echo "faasbed: k3s agent exited with $?; init starts it again"
sleep 2
