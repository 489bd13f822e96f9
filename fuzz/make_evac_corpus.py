#!/usr/bin/python3
"""Writes the seed corpus fuzz/corpus/fuzz_evac_opts/ (seed-* files) for the
evacuation and rebalance option parsers' target fuzz_evac_opts.

Every body is written here by hand from docs/admin-api.md ("Evacuation",
"Rebalance"), never with fe_*_opts_json: every field at and past its
bounds, durations in each unit, node lists, redirect_to with escapes and
multi-byte UTF-8, and bodies the parsers must refuse (not an object,
trailing bytes, duplicate keys, bad UTF-8, unknown fields). Run it after
changing it and check the files in; `make_evac_corpus.py --check` exits 1
when the checked-in seed-* files differ from what it would write. Files
without the seed- prefix (merged in by fuzz/run.sh --merge, or crash-*
reproducers) are left alone.

Input format (it must match fuzz_evac_opts.c's header):
  [selector] [body]  selector bits 0-1 parser (0 evacuation, 1 rebalance,
  2 or 3 both), bits 2-4 errlen index into (512, 512, 512, 0, 1, 7, 32, 100)
"""
import sys

import seedfiles
from seedfiles import u8

EVAC, REBAL, BOTH = 0, 1, 2


def sel(kind=BOTH, errlen=0):
    return u8(errlen << 2 | kind)


def b(s):
    return s.encode() if isinstance(s, str) else s


def names(n, length=0):
    """A JSON array of n distinct node names, padded with x to length."""
    return "[" + ",".join('"%s"' % ("n" + str(i)).ljust(length, "x") for i in range(n)) + "]"


# (name, parser, body): accepted bodies first.
GOOD = [
    ("empty", BOTH, ""),
    ("whitespace", BOTH, " \t\r\n"),
    ("object-empty", BOTH, "{}"),
    ("evac-all", EVAC,
     '{"conn_evict_rate":200,"conn_evict_rate_max":300,"sess_evict_rate":100,'
     '"wait_takeover":"5s","wait_health_check":3,"redirect_to":"mqtt://n2:1883",'
     '"migrate_to":["n2","n3"]}'),
    ("evac-pretty", EVAC,
     '{\n  "conn_evict_rate": "auto",\n  "conn_evict_rate_max": 1000000,\n'
     '  "sess_evict_rate": 1,\n  "wait_takeover": "24h",\n  "wait_health_check": "0ms"\n}\n'),
    ("evac-auto", EVAC, '{"conn_evict_rate":"auto"}'),
    ("evac-auto-escaped", EVAC, '{"conn_evict_rate":"\\u0061uto"}'),
    ("evac-rate-1", EVAC, '{"conn_evict_rate":1}'),
    ("evac-rate-max", EVAC, '{"conn_evict_rate":1000000,"sess_evict_rate":1000000}'),
    ("evac-rate-max-1", EVAC, '{"conn_evict_rate_max":1}'),
    ("evac-redirect-empty", EVAC, '{"redirect_to":""}'),
    ("evac-redirect-escapes", EVAC,
     '{"redirect_to":"b:1 \\"q\\" \\\\ \\/ \\u00a0\\u20ac\\ud83d\\ude00 \u00e9 \u20ac"}'),
    ("evac-redirect-1024", EVAC, '{"redirect_to":"' + "r" * 1024 + '"}'),
    ("evac-redirect-c1-edge", EVAC, '{"redirect_to":"\u00a0\u00bf\u00c0~"}'),
    ("evac-migrate-64", EVAC, '{"migrate_to":' + names(64) + "}"),
    ("evac-migrate-255", EVAC, '{"migrate_to":["' + "N" * 255 + '","a.b_c-d@e:f"]}'),
    ("evac-migrate-case", EVAC, '{"migrate_to":["node","NODE"]}'),
    ("rebal-all", REBAL,
     '{"nodes":["n1","n2","n3"],"conn_evict_rate":10,"sess_evict_rate":20,'
     '"wait_takeover":5,"wait_health_check":"3s","abs_conn_threshold":30,'
     '"rel_conn_threshold":1.5,"abs_sess_threshold":40,"rel_sess_threshold":2.25}'),
    ("rebal-rel-int", REBAL, '{"rel_conn_threshold":2,"rel_sess_threshold":100}'),
    ("rebal-rel-tiny", REBAL, '{"rel_conn_threshold":1.0000000000000002}'),
    ("rebal-rel-exp", REBAL, '{"rel_sess_threshold":1e2,"rel_conn_threshold":1.5E1}'),
    ("rebal-abs-max", REBAL, '{"abs_conn_threshold":100000000,"abs_sess_threshold":1}'),
    ("rebal-nodes-64", REBAL, '{"nodes":' + names(64, 255) + "}"),
    ("duration-0", BOTH, '{"wait_takeover":0,"wait_health_check":"0s"}'),
    ("duration-max-s", BOTH, '{"wait_takeover":86400,"wait_health_check":"86400s"}'),
    ("duration-max-ms", BOTH, '{"wait_takeover":"86400000ms","wait_health_check":"1440m"}'),
    ("duration-units", BOTH, '{"wait_takeover":"2m","wait_health_check":"500ms"}'),
    ("duration-12-digits", BOTH, '{"wait_takeover":"000000000001h"}'),
    ("duration-minus-zero", BOTH, '{"wait_takeover":-0}'),
]

# Bodies the parsers must refuse, each for one reason.
BAD = [
    ("not-object-array", BOTH, "[]"),
    ("not-object-number", BOTH, "5"),
    ("not-object-string", BOTH, '"{}"'),
    ("not-object-null", BOTH, "null"),
    ("trailing-garbage", BOTH, "{} x"),
    ("trailing-object", BOTH, "{}{}"),
    ("trailing-nul", BOTH, b"{}\x00"),
    ("truncated", BOTH, '{"wait_takeover":"5'),
    ("bom", BOTH, b"\xef\xbb\xbf{}"),
    ("duplicate-key", BOTH, '{"conn_evict_rate":1,"conn_evict_rate":2}'),
    ("duplicate-key-escaped", BOTH, '{"nodes":1,"no\\u0064es":1}'),
    ("unknown-field", BOTH, '{"foo":1}'),
    ("unknown-field-hostile", BOTH,
     '{"\\u0001\\u001b[31m\\"\\\\' + "k" * 100 + '\u00e9":1}'),
    ("evac-field-in-rebal", REBAL, '{"migrate_to":["n1"],"redirect_to":"x"}'),
    ("rebal-field-in-evac", EVAC, '{"nodes":["n1"],"abs_conn_threshold":5}'),
    ("rate-0", BOTH, '{"conn_evict_rate":0}'),
    ("rate-over", BOTH, '{"sess_evict_rate":1000001}'),
    ("rate-negative", BOTH, '{"conn_evict_rate":-1}'),
    ("rate-2p32-plus-1", BOTH, '{"conn_evict_rate":4294967297}'),
    ("rate-real", BOTH, '{"conn_evict_rate":1.0}'),
    ("rate-bool", BOTH, '{"sess_evict_rate":true}'),
    ("rate-null", BOTH, '{"sess_evict_rate":null}'),
    ("rate-string", BOTH, '{"conn_evict_rate":"5"}'),
    ("rate-too-big-int", BOTH, '{"conn_evict_rate":99999999999999999999}'),
    ("rate-real-overflow", BOTH, '{"conn_evict_rate":1e400}'),
    ("auto-in-rebal", REBAL, '{"conn_evict_rate":"auto"}'),
    ("auto-max", EVAC, '{"conn_evict_rate_max":"auto"}'),
    ("auto-case", EVAC, '{"conn_evict_rate":"Auto"}'),
    ("duration-over-s", BOTH, '{"wait_takeover":86401}'),
    ("duration-over-h", BOTH, '{"wait_takeover":"25h"}'),
    ("duration-over-ms", BOTH, '{"wait_health_check":"86400001ms"}'),
    ("duration-no-unit", BOTH, '{"wait_takeover":"5"}'),
    ("duration-bad-unit", BOTH, '{"wait_takeover":"5x"}'),
    ("duration-empty", BOTH, '{"wait_takeover":""}'),
    ("duration-negative", BOTH, '{"wait_takeover":"-1s"}'),
    ("duration-fraction", BOTH, '{"wait_takeover":"1.5s"}'),
    ("duration-space", BOTH, '{"wait_takeover":"1 s"}'),
    ("duration-13-digits", BOTH, '{"wait_takeover":"0000000000001s"}'),
    ("duration-wrap", BOTH, '{"wait_takeover":"18446744073709551617ms"}'),
    ("duration-real", BOTH, '{"wait_health_check":60.5}'),
    ("redirect-1025", EVAC, '{"redirect_to":"' + "r" * 1025 + '"}'),
    ("redirect-control", EVAC, '{"redirect_to":"a\\u0007b"}'),
    ("redirect-del", EVAC, b'{"redirect_to":"a\x7fb"}'),
    ("redirect-c1", EVAC, b'{"redirect_to":"\xc2\x85"}'),
    ("redirect-nul", EVAC, '{"redirect_to":"a\\u0000"}'),
    ("redirect-raw-tab", EVAC, b'{"redirect_to":"\t"}'),
    ("redirect-bad-utf8", EVAC, b'{"redirect_to":"\xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80"}'),
    ("redirect-lone-surrogate", EVAC, '{"redirect_to":"\\ud800"}'),
    ("redirect-not-string", EVAC, '{"redirect_to":1}'),
    ("nodes-empty", BOTH, '{"migrate_to":[],"nodes":[]}'),
    ("nodes-65", BOTH, '{"migrate_to":' + names(65) + ',"nodes":' + names(65) + "}"),
    ("nodes-not-array", BOTH, '{"migrate_to":"n1","nodes":"n1"}'),
    ("nodes-duplicate", BOTH, '{"migrate_to":["a","b","a"],"nodes":["a","b","a"]}'),
    ("nodes-256", REBAL, '{"nodes":["' + "x" * 256 + '"]}'),
    ("nodes-bad-char", BOTH, '{"migrate_to":["a b"],"nodes":["a/b"]}'),
    ("nodes-empty-name", BOTH, '{"migrate_to":[""],"nodes":[""]}'),
    ("nodes-not-string", BOTH, '{"migrate_to":[1],"nodes":[null]}'),
    ("nodes-utf8", BOTH, '{"migrate_to":["\u00e9"],"nodes":["\u00e9"]}'),
    ("rel-1", REBAL, '{"rel_conn_threshold":1}'),
    ("rel-1.0", REBAL, '{"rel_sess_threshold":1.0}'),
    ("rel-over", REBAL, '{"rel_conn_threshold":100.00000000000001}'),
    ("rel-negative", REBAL, '{"rel_conn_threshold":-2}'),
    ("rel-string", REBAL, '{"rel_conn_threshold":"1.5"}'),
    ("rel-nan", REBAL, '{"rel_conn_threshold":NaN}'),
    ("abs-0", REBAL, '{"abs_conn_threshold":0}'),
    ("abs-over", REBAL, '{"abs_sess_threshold":100000001}'),
    ("deep-nesting", BOTH, '{"foo":' + "[" * 300 + "]" * 300 + "}"),
]

# Short error buffers (errlen index 3..7) on a few refusals.
SMALL_ERR = [
    ("err-0", 3, '{"conn_evict_rate":0}'),
    ("err-1", 4, '{"foo":1}'),
    ("err-7", 5, '{"wait_takeover":"1d"}'),
    ("err-32", 6, '{"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\u0008":1}'),
    ("err-100", 7, b'{"a":tru\x01\x02\xff}'),
]


def all_seeds():
    seeds = {}
    for name, kind, body in GOOD:
        seeds["ok-" + name] = sel(kind) + b(body)
    for name, kind, body in BAD:
        seeds["bad-" + name] = sel(kind) + b(body)
    for name, idx, body in SMALL_ERR:
        seeds[name] = sel(BOTH, idx) + b(body)
    return {"seed-" + k: v for k, v in seeds.items()}


def main():
    return seedfiles.main("make_evac_corpus.py", {"fuzz_evac_opts": all_seeds()})


if __name__ == "__main__":
    sys.exit(main())
