"""Issue 17: crafted objects. A .bpf.o whose .rodata is shorter than 8 bytes,
with BTF that claims an 8-byte kaddr_ variable in it, is refused with a clear
error (the loader computed size - 8, wrapped, and wrote past its copy)."""
import os
import re
import struct
import subprocess

from engine_helpers import (SHIPPED_BPF_DIR, TEST_BPF_DIR, find_clang, make_config, run_cli,
                            uprobe_config)
from conftest import BUILD_DIR, require

BTF_KIND_DATASEC = 15
# bytes after the 12-byte btf_type header, per kind: fixed, per vlen item
_EXTRA = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0),
          15: (0, 12), 17: (4, 0), 19: (0, 12)}


def elf_section(data, want):
    """(offset, size) of section WANT in a 64-bit little-endian ELF."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    def sh(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
    stroff = sh(shstrndx)[4]
    for i in range(shnum):
        name, _, _, _, off, size = sh(i)[:6]
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == want:
            return off, size
    raise AssertionError("no section %r" % want)


def patch_rodata_var_size(path, size):
    """Set the size of every variable in BTF's .rodata DATASEC to SIZE."""
    data = bytearray(open(path, "rb").read())
    base, _ = elf_section(data, b".BTF")
    magic, _, _, hdr_len, type_off, type_len, str_off, _ = struct.unpack_from(
        "<HBBIIIII", data, base)
    assert magic == 0xEB9F
    types = base + hdr_len + type_off
    strs = base + hdr_len + str_off
    pos, patched = types, 0
    while pos < types + type_len:
        name_off, info, _ = struct.unpack_from("<III", data, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        fixed, item = _EXTRA.get(kind, (0, 0))
        name = bytes(data[strs + name_off:data.index(b"\0", strs + name_off)])
        if kind == BTF_KIND_DATASEC and name == b".rodata":
            for v in range(vlen):
                struct.pack_into("<I", data, pos + 12 + v * 12 + 8, size)
                patched += 1
        pos += 12 + fixed + vlen * item
    assert patched, "no .rodata DATASEC in " + path
    open(path, "wb").write(bytes(data))


COUNTER = """
metrics:
  counters:
    - name: kaddr_value_total
      help: The address the loader wrote into kaddr_schedule
      labels:
        - name: zero
          size: 4
          decoders:
            - name: uint
kaddrs:
  - schedule
hooks:
  - name: sys_enter
    alternatives:
      - raw_tp_marker
"""


def test_rodata_shorter_than_a_u64_is_refused(cli, tmp_path):
    clang = find_clang()
    require(clang is not None, "clang is needed to build the test BPF objects")
    src = open(os.path.join(TEST_BPF_DIR, "bbtest.bpf.c")).read()
    decl = "const volatile u64 kaddr_schedule = 0;"
    assert decl in src
    # a 4-byte .rodata, and BTF that says its variable is a u64
    short = tmp_path / "short.bpf.c"
    short.write_text(src.replace(decl, "const volatile u32 kaddr_schedule = 0;"))
    obj = str(tmp_path / "short.bpf.o")
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall",
                    "-I", os.path.join(BUILD_DIR, "bpf"), "-I", SHIPPED_BPF_DIR, "-c", str(short),
                    "-o", obj],
                   check=True)
    patch_rodata_var_size(obj, 8)
    path = make_config(str(tmp_path / "cfg"), "short", COUNTER, obj)
    r = run_cli(cli, "check", path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert re.search(r"kaddrs: kaddr_schedule in \S+short\.bpf\.o is 8 bytes at offset 0 of a "
                     r"4-byte \.rodata, expected a u64 inside it", r.stderr), r.stderr
    assert "AddressSanitizer" not in r.stderr


UPROBE = uprobe_config("uprobe_missing_binary", "uprobe_getpid")


def test_failed_probe_is_probed_again_by_the_next_open(cli, tmp_path):
    """A failed probe is not cached past the opens running with it (a binary may
    be installed, a module loaded meanwhile); a successful one is. Two configs
    opened one after the other by one process: the missing binary is probed
    twice, libc's getpid once."""
    clang = find_clang()
    require(clang is not None, "clang is needed to build the test BPF objects")
    src = os.path.join(TEST_BPF_DIR, "bbuprobe.bpf.c")
    paths = []
    for name, metric in (("bbua", "getpid_calls_total"), ("bbub", "getpid_b_calls_total")):
        obj = str(tmp_path / (name + ".bpf.o"))
        # metric names are unique across configs: the second object's map is renamed
        subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall",
                        "-Dgetpid_calls_total=" + metric, "-I", os.path.join(BUILD_DIR, "bpf"),
                        "-I", SHIPPED_BPF_DIR, "-c", src, "-o", obj], check=True)
        paths.append(make_config(str(tmp_path / name), name,
                                 UPROBE.replace("getpid_calls_total", metric), obj))
    r = run_cli(cli, "-v", "check", *paths)
    assert r.returncode == 0, r.stderr
    missing = [l for l in r.stderr.splitlines()
               if "probe uprobe /nonexistent/bbtest-binary:main: " in l]
    found = [l for l in r.stderr.splitlines() if "probe uprobe libc.so.6:getpid: ok" in l]
    assert len(missing) == 2, r.stderr
    assert len(found) == 1, r.stderr
