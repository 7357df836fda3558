#!/usr/bin/python3
"""rtt_probe.py: UDP round-trip times across a link between two network
namespaces, from one process (a socket opened in each namespace through
setns), so no echo server has to be started and waited for. Prints one line:
sent, received, lost, reordered and RTT min/median/p90/max in milliseconds."""
import argparse
import ctypes
import os
import select
import socket
import statistics
import struct
import time

CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)


def ns_path(ns):
    return ns if "/" in ns else "/var/run/netns/" + ns


def udp_socket_in(ns, addr):
    """A UDP socket bound to addr (port chosen by the kernel) in namespace ns."""
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(ns_path(ns), os.O_RDONLY)
    try:
        if LIBC.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((addr, 0))
            s.setblocking(False)
            return s
        finally:
            if LIBC.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(target)
        os.close(home)


def echo(server):
    """Sends every datagram waiting on server back to where it came from."""
    while True:
        try:
            data, peer = server.recvfrom(2048)
        except BlockingIOError:
            return
        server.sendto(data, peer)


def collect(client, t0, rtts, seen):
    """Records the RTT of every reply waiting on client; returns reorderings."""
    reordered = 0
    while True:
        try:
            data = client.recv(2048)
        except BlockingIOError:
            return reordered
        seq, sent = struct.unpack("!Id", data[:12])
        if seen and seq < seen[-1]:
            reordered += 1
        seen.append(seq)
        rtts.append((time.monotonic() - t0 - sent) * 1000.0)


def probe(args):
    server = udp_socket_in(args.server_ns, args.server_addr)
    client = udp_socket_in(args.client_ns, args.client_addr)
    dest = server.getsockname()
    rtts, seen, reordered, sent = [], [], 0, 0
    t0 = time.monotonic()
    end = args.count * args.interval_ms / 1000.0 + args.drain_ms / 1000.0
    while True:
        now = time.monotonic() - t0
        if sent < args.count and now >= sent * args.interval_ms / 1000.0:
            client.sendto(struct.pack("!Id", sent, now) + bytes(args.size - 12), dest)
            sent += 1
            continue
        if now >= end:
            break
        next_send = sent * args.interval_ms / 1000.0 if sent < args.count else end
        ready, _, _ = select.select([server, client], [], [], max(0.0, next_send - now))
        if server in ready:
            echo(server)
        if client in ready:
            reordered += collect(client, t0, rtts, seen)
    return sent, rtts, reordered


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--server-ns", required=True, help="echo side: netns name or path")
    p.add_argument("--server-addr", required=True)
    p.add_argument("--client-ns", required=True, help="probing side: netns name or path")
    p.add_argument("--client-addr", default="0.0.0.0")
    p.add_argument("--count", type=int, default=400)
    p.add_argument("--interval-ms", type=float, default=1.0)
    p.add_argument("--drain-ms", type=float, default=400.0)
    p.add_argument("--size", type=int, default=64, help="datagram bytes (>= 12)")
    args = p.parse_args()
    args.size = max(args.size, 12)
    sent, rtts, reordered = probe(args)
    q = sorted(rtts) or [float("nan")]
    print("sent=%d received=%d lost=%d reordered=%d min_ms=%.2f median_ms=%.2f "
          "p90_ms=%.2f max_ms=%.2f" % (sent, len(rtts), sent - len(rtts), reordered, q[0],
                                       statistics.median(q), q[int(0.9 * (len(q) - 1))], q[-1]))


if __name__ == "__main__":
    main()
