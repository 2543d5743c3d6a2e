#!/usr/bin/env python3
"""TLS session resumption from the client's side (Python's ssl, OpenSSL inside), for 37_tls_resumption_test.cpp.

    tls_resume_client.py --cafile CA [--no-tickets] [--sleep SECONDS] PORT [PORT ...]

Connects to each PORT in turn over TLS 1.2, offering the session of the connection before, sends an MQTT 3.1.1
CONNECT and reads the CONNACK. Prints one line per connection, "PORT reused=True|False connack=RC". --sleep: waits
that long before every connection but the first (to outlive a session's lifetime). --no-tickets:
the client sends no session ticket extension, so only the server's session cache can resume it.
Every socket operation has a 10 s deadline. Python 3 standard library only.
"""
import argparse
import socket
import ssl
import sys
import time


def connack(tls, client_id):
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
    tls.sendall(bytes([0x10, len(body)]) + body)
    got = b""
    while len(got) < 4:
        chunk = tls.recv(4 - len(got))
        if not chunk:
            return -1
        got += chunk
    return got[3] if got[0] == 0x20 else -1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cafile", required=True)
    p.add_argument("--no-tickets", action="store_true")
    p.add_argument("--sleep", type=float, default=0)
    p.add_argument("ports", nargs="+", type=int)
    a = p.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(a.cafile)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if a.no_tickets:
        ctx.options |= ssl.OP_NO_TICKET
    session = None
    for i, port in enumerate(a.ports):
        if i > 0 and a.sleep > 0:
            time.sleep(a.sleep)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            rc = connack(tls, f"resume-{i}")
            print(f"{port} reused={tls.session_reused} connack={rc}", flush=True)
            session = tls.session
    return 0


if __name__ == "__main__":
    sys.exit(main())
