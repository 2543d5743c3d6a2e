#!/usr/bin/env python3
"""Tern's footprint (issue 23): what the binary is made of, idle RSS, memory per idle connection.

    bench/footprint.py map build-cross-aarch64/tern.map [--objects 30]
        bytes each archive (libsqlite3.a, libstdc++.a, libtern_net.a ...) puts into the loaded sections of the
        linked executable, from the linker's map (TERN_SMALL writes tern.map next to tern); --objects also lists the
        largest objects. With LTO Tern's own code shows as the link's ltrans objects, not per library.
    bench/footprint.py rss build-static/tern [--repeats 5]
        VmRSS 0.5 s after start (threads 1, one listener on 127.0.0.1), split into anonymous memory and pages of
        the binary (RssFile), median of the repeats.
    bench/footprint.py idle build-static/tern [--connections 10000] [--threads 2] [--mqtt 5] [--username dev%i]
        RSS before and after N idle connections (bench/run.py's row 5, with the anon/file split): KiB per connection.
        The clients are anonymous 3.1.1 ones unless --mqtt and --username say otherwise (allow_anonymous true: a
        username is kept, no password is checked).
    bench/footprint.py streams build-static/tern.map | build/tern
        fails (exit 1) if tern links the standard library's iostreams or locales: from a static link's map, more
        than STREAM_BYTES_ALLOWED of libstdc++'s stream, locale and facet objects; from a dynamically linked tern,
        any such symbol it imports. The CTest test no_iostreams runs it; see bench/README.md, "What is pulled in".

Standard library only. The idle command needs build-bench/bench/tern_loadgen (--loadgen).
"""
import argparse
import collections
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Output sections that take space in the file and in memory (.bss and .tbss take none in the file).
LOADED = {".text", ".rodata", ".eh_frame", ".eh_frame_hdr", ".gcc_except_table", ".data.rel.ro", ".data", ".tdata",
          ".init_array", ".fini_array", "__libc_freeres_fn", "__libc_IO_vtables", "__libc_subfreeres",
          "__libc_atexit", "__libc_freeres_ptrs", ".init", ".fini", ".got", ".got.plt", ".rela.dyn", ".iplt",
          ".rela.iplt", ".note.ABI-tag", ".note.gnu.build-id", ".stapsdt.base", ".ARM.exidx", ".ARM.extab"}


def map_sizes(path):
    """{(archive, object): {output section: bytes}} from a GNU ld map."""
    sizes = collections.defaultdict(collections.Counter)
    out_section, pending = None, None
    started = False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if not started:
            started = line.startswith("Linker script and memory map")
            continue
        m = re.match(r"^(\.\S+|__\S+)(\s+0x[0-9a-f]+\s+0x[0-9a-f]+)?\s*$", line)
        if m and not line.startswith(" "):
            out_section = m.group(1)
            continue
        m = re.match(r"^ (\S+)\s*$", line)
        if m:  # an input section whose name is too long: its address, size and file follow on the next line
            pending = m.group(1)
            continue
        m = re.match(r"^ (\S+)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if not m:
            pending = None
            continue
        if (m.group(1) or pending) is None:
            continue
        pending = None
        size, source = int(m.group(3), 16), m.group(4).strip()
        if size == 0 or out_section not in LOADED:
            continue
        a = re.match(r"(.*?)\((.*)\)$", source)
        if m.group(1) == "*fill*":
            archive, obj = "(alignment padding)", ""
        elif re.search(r"\.ltrans\d*\.ltrans\.o$", source):  # LTO: Tern's code, re-partitioned at the link
            archive, obj = "Tern (LTO partitions)", os.path.basename(source)
        elif a:
            archive, obj = os.path.basename(a.group(1)), a.group(2)
        else:
            archive = obj = os.path.basename(source)
        sizes[(archive, obj)][out_section] += size
    return sizes


def cmd_map(args):
    sizes = map_sizes(args.map)
    per_archive = collections.defaultdict(collections.Counter)
    for (archive, _), sections in sizes.items():
        per_archive[archive].update(sections)
    total = sum(sum(s.values()) for s in per_archive.values())
    print(f"| contributor | bytes | share | .text | .rodata | .eh_frame + except | data |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for archive, s in sorted(per_archive.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(s.values())
        if n < args.min_bytes:
            continue
        eh = s[".eh_frame"] + s[".gcc_except_table"] + s[".eh_frame_hdr"]
        data = n - s[".text"] - s[".rodata"] - eh
        print(f"| {archive} | {n:,} | {100 * n / total:.1f} % | {s['.text']:,} | {s['.rodata']:,} | {eh:,} | {data:,} |")
    print(f"| total | {total:,} | | | | | |")
    if args.objects:
        print()
        print("| archive | object | bytes |")
        print("|---|---|--:|")
        ranked = sorted(sizes.items(), key=lambda kv: -sum(kv[1].values()))[: args.objects]
        for (archive, obj), s in ranked:
            print(f"| {archive} | {obj} | {sum(s.values()):,} |")


# libstdc++'s objects that only streams and locales need (locale-inst.o, cxx11-wlocale-inst.o, cow-shim_facets.o,
# ios_init.o, sstream-inst.o, fstream-inst.o, basic_file.o, codecvt.o, monetary_members.o ...), and the symbols a
# dynamically linked tern would import for them.
STREAM_OBJECTS = re.compile(r"locale|facets|ios|stream|basic_file|codecvt|_members|ctype")
STREAM_SYMBOLS = re.compile(r"std::(ios_base|basic_ios|basic_[io]?stream|basic_[io]?stringstream|basic_stringbuf|"
                            r"basic_streambuf|basic_[io]?fstream|basic_filebuf|locale\b|__ostream_insert|"
                            r"ostream|istream)")
# std::filesystem's objects (fs_path.o, fs_ops.o) bring some of them into the link; of those only their static
# initializers survive --gc-sections (the locale ids' guards, iostream_category), a few hundred bytes each. One stream
# anywhere keeps the classic locale's initialisation and every facet behind it: hundreds of KB.
STREAM_BYTES_ALLOWED = 8192


def cmd_streams(args):
    if args.path.endswith(".map"):
        kept = sorted((sum(s.values()), obj) for (archive, obj), s in map_sizes(args.path).items()
                      if archive.startswith("libstdc++") and STREAM_OBJECTS.search(obj))
        total = sum(n for n, _ in kept)
        print(f"{args.path}: {total:,} bytes of libstdc++'s stream and locale objects "
              f"({STREAM_BYTES_ALLOWED:,} allowed)")
        found = [f"{obj} ({n:,} bytes)" for n, obj in kept] if total > STREAM_BYTES_ALLOWED else []
    else:
        nm = subprocess.run(["nm", "-D", "-C", "--undefined-only", args.path], capture_output=True, text=True)
        if nm.returncode != 0:
            sys.exit(f"nm -D {args.path}: {nm.stderr.strip()}")
        found = [line.split(None, 1)[1] for line in nm.stdout.splitlines() if STREAM_SYMBOLS.search(line)]
    if found:
        print(f"{args.path}: tern links iostreams or locales (see bench/README.md, \"What is pulled in\"):")
        for item in found:
            print("  " + item)
        sys.exit(1)
    print(f"{args.path}: no iostreams or locales")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid):
    m = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile"):
                m[key] = int(line.split()[1])
    return m


def start(tern, threads, workdir):
    port = free_port()
    conf = os.path.join(workdir, "tern.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nthreads {threads}\n"
                "max_queued_messages 100000\nmax_inflight_messages 65535\n")
    proc = subprocess.Popen([tern, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.005)
    proc.kill()
    sys.exit("tern did not start listening")


def cmd_rss(args):
    runs = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as workdir:
            proc, _ = start(args.tern, 1, workdir)
            time.sleep(0.5)
            runs.append(memory(proc.pid))
            proc.kill()
            proc.wait()
    for key in ("VmRSS", "RssAnon", "RssFile"):
        print(f"{key}: {statistics.median(r[key] for r in runs):.0f} KiB  (runs: {[r[key] for r in runs]})")


def cmd_idle(args):
    with tempfile.TemporaryDirectory() as workdir:
        proc, port = start(args.tern, args.threads, workdir)
        time.sleep(0.3)
        before = memory(proc.pid)
        extra = ["--username", args.username] if args.username else []
        lg = subprocess.Popen([args.loadgen, "--port", str(port), "--scenario", "idle", "--mqtt", args.mqtt,
                               "--connections", str(args.connections), "--hold", "60"] + extra,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for line in lg.stderr:
            if line.startswith("EVENT ready"):
                break
        time.sleep(1.0)
        after = memory(proc.pid)
        lg.kill()
        proc.kill()
        proc.wait()
    n = args.connections
    print(f"before {before} KiB, with {n} idle connections {after} KiB")
    print(f"KiB per connection: {(after['VmRSS'] - before['VmRSS']) / n:.3f} "
          f"(anonymous {(after['RssAnon'] - before['RssAnon']) / n:.3f}, "
          f"binary's pages {(after['RssFile'] - before['RssFile']) / n:.3f})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("map", help="size by archive from a linker map")
    m.add_argument("map")
    m.add_argument("--objects", type=int, default=0, help="also list the N largest objects")
    m.add_argument("--min-bytes", type=int, default=1000, help="leave out contributors below this")
    r = sub.add_parser("rss", help="idle RSS with threads 1")
    r.add_argument("tern")
    r.add_argument("--repeats", type=int, default=5)
    i = sub.add_parser("idle", help="KiB per idle connection")
    i.add_argument("tern")
    i.add_argument("--connections", type=int, default=10000)
    i.add_argument("--threads", type=int, default=os.cpu_count())
    i.add_argument("--loadgen", default=os.path.join(ROOT, "build-bench", "bench", "tern_loadgen"))
    i.add_argument("--mqtt", choices=("3", "5"), default="3", help="the clients' protocol: 3.1.1 or 5.0")
    i.add_argument("--username", help="each client connects with this username (%%i: its index); default none")
    s = sub.add_parser("streams", help="fail if tern links iostreams or locales")
    s.add_argument("path", help="the map of a static link (tern.map) or a dynamically linked tern")
    args = p.parse_args()
    {"map": cmd_map, "rss": cmd_rss, "idle": cmd_idle, "streams": cmd_streams}[args.command](args)


if __name__ == "__main__":
    main()
