"""Writing and checking the seed-* files of a fuzz corpus: shared by the
make_*corpus.py generators.

sync(script, target, seeds, check) makes corpus/<target>/ hold exactly the
given seeds as seed-* files (other files, e.g. merged-in findings and
crash-* reproducers, are left alone). With check it changes nothing and
reports every seed file that is missing, different or stale. Returns the
number of problems (always 0 when writing).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


# Big-endian integers, as every FerryMQ wire format writes them.
def u8(n):
    return bytes([n])


def u16(n):
    return n.to_bytes(2, "big")


def u32(n):
    return n.to_bytes(4, "big")


def u64(n):
    return n.to_bytes(8, "big")


def sync(script, target, seeds, check):
    """seeds: {file name (with the seed- prefix): bytes}."""
    d = os.path.join(HERE, "corpus", target)
    if not check:
        os.makedirs(d, exist_ok=True)
    present = set(f for f in os.listdir(d) if f.startswith("seed-")) if os.path.isdir(d) else set()
    problems = 0
    for name, data in sorted(seeds.items()):
        path = os.path.join(d, name)
        if check:
            try:
                with open(path, "rb") as fp:
                    same = fp.read() == data
            except FileNotFoundError:
                same = False
            if not same:
                print(f"{target}/{name}: missing or different", file=sys.stderr)
                problems += 1
        else:
            with open(path, "wb") as fp:
                fp.write(data)
    for stale in sorted(present - set(seeds)):
        if check:
            print(f"{target}/{stale}: not written by {script}", file=sys.stderr)
            problems += 1
        else:
            os.remove(os.path.join(d, stale))
    total = len(os.listdir(d)) if os.path.isdir(d) else 0
    print(f"{target}: {len(seeds)} seeds, {total} files in corpus/{target}")
    return problems


def main(script, corpora):
    """corpora: {target: seeds}. Exit status for the generator."""
    check = "--check" in sys.argv[1:]
    problems = sum(sync(script, t, s, check) for t, s in corpora.items())
    if check and problems:
        print(f"{problems} seed file(s) out of date: run fuzz/{script}", file=sys.stderr)
        return 1
    return 0
