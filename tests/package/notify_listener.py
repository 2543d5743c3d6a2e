#!/usr/bin/env python3
"""Plays systemd's side of sd_notify for tests/package/test_package.sh: binds a unix datagram socket at PATH
(NOTIFY_SOCKET), appends every datagram it receives to LOG as one line (newlines inside a datagram become spaces,
and a line is flushed at once), and exits after STOPPING=1 or after a minute.

    notify_listener.py PATH LOG
"""
import os
import socket
import sys
import time

path, log = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
os.chmod(path, 0o777)  # the broker runs as another user
deadline = time.monotonic() + 60
with open(log, "a", buffering=1) as out:
    out.write("LISTENING\n")
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            data = sock.recv(4096)
        except socket.timeout:
            break
        text = data.decode(errors="replace").replace("\n", " ")
        out.write(text + "\n")
        if "STOPPING=1" in text:
            break
