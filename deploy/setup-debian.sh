#!/bin/sh
# Installs the Debian 12 packages psync needs to build, test and benchmark.
# Run as root (or through sudo). Safe to run again: apt-get skips what is there.
set -eu
PKGS="build-essential cmake pkg-config libzmq3-dev libmsgpack-dev \
libopenblas-dev zlib1g-dev libcmocka-dev libsodium-dev \
dataset-fashion-mnist python3 python3-numpy python3-msgpack python3-zmq \
python3-torch clang libclang-rt-14-dev iproute2 procps"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $PKGS
