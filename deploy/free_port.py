#!/usr/bin/python3
"""free_port.py [COUNT]: prints a port P such that P .. P+COUNT-1 (default
2: a psyncd's control and bulk) can be bound on 127.0.0.1 right now. P is
even and drawn at random below Linux's ephemeral range (32768-60999), so an
outgoing connection of another program cannot take it meanwhile. Exits 1
if no such run of ports is free."""
import random
import socket
import sys


def free_run(port, count):
    held = []
    try:
        for p in range(port, port + count):
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        for s in held:
            s.close()


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    for port in random.sample(range(20000, 32768 - count, 2), 2000):
        if free_run(port, count):
            print(port)
            return 0
    print("free_port: no run of %d free ports below 32768" % count, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
