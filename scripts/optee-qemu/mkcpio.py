#!/usr/bin/env python3
"""Write a gzip'd newc cpio archive (a Linux initramfs) from a staging folder.

Why not `find | cpio`: the initramfs needs /dev/console before /init runs
(the kernel opens it for init's stdin/stdout), and making a device node with
mknod needs root. Writing the archive ourselves puts the node in without
privileges, and with fixed owners and times the archive is reproducible.

usage: mkcpio.py STAGING OUT.cpio.gz [--char PATH:MODE:MAJOR:MINOR ...]
"""
import gzip
import os
import stat
import sys


def header(name, mode, size, nlink=1, rmaj=0, rmin=0, ino=0):
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rmaj, rmin, len(name) + 1, 0]
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def pad(n):
    return b"\0" * ((4 - n % 4) % 4)


def entry(out, name, mode, data=b"", rmaj=0, rmin=0, ino=0):
    nb = name.encode()
    h = header(nb, mode, len(data), rmaj=rmaj, rmin=rmin, ino=ino) + nb + b"\0"
    out.write(h + pad(len(h)))
    out.write(data + pad(len(data)))


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    root, dest = argv[1], argv[2]
    chars = []
    rest = argv[3:]
    while rest:
        if rest[0] != "--char" or len(rest) < 2:
            sys.stderr.write("mkcpio.py: unknown argument %s\n" % rest[0])
            return 2
        path, mode, major, minor = rest[1].split(":")
        chars.append((path.lstrip("/"), int(mode, 8), int(major), int(minor)))
        rest = rest[2:]
    ino = 1
    with gzip.GzipFile(dest, "wb", mtime=0) as out:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            if rel != ".":
                st = os.lstat(dirpath)
                entry(out, rel, stat.S_IFDIR | (st.st_mode & 0o7777), ino=ino)
                ino += 1
            for fn in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
                full = os.path.join(dirpath, fn)
                name = os.path.normpath(os.path.join(rel, fn))
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    entry(out, name, stat.S_IFLNK | 0o777, os.readlink(full).encode(), ino=ino)
                elif stat.S_ISREG(st.st_mode):
                    with open(full, "rb") as f:
                        entry(out, name, stat.S_IFREG | (st.st_mode & 0o7777), f.read(), ino=ino)
                ino += 1
        for path, mode, major, minor in chars:
            entry(out, path, stat.S_IFCHR | mode, rmaj=major, rmin=minor, ino=ino)
            ino += 1
        entry(out, "TRAILER!!!", 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
