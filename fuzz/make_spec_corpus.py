#!/usr/bin/python3
"""Writes the seed corpus fuzz/corpus/fuzz_spec/ (seed-* files) for
ferry-operator's FerryCluster spec parser target fuzz_spec.

Every document is written here by hand from src/operator/spec.h (the
document's fields and bounds) and ../shared/design.md ("Upgrade
controller"): the article's blueGreenUpdate block, every field at its
bounds, and documents the parser must refuse (unknown fields, wrong types,
bad YAML, aliases, tags, nesting). Run it after changing it and check the
files in; `make_spec_corpus.py --check` exits 1 when the checked-in seed-*
files differ from what it would write. Files without the seed- prefix are
left alone.

Input format (it must match fuzz_spec.c's header): the YAML document, whole.
"""
import sys

import seedfiles

HEAD = "apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata: {name: demo}\n"


def spec(extra="", replicas="3", image="ferrymq:1.1"):
    return HEAD + "spec:\n  replicas: %s\n  image: %s\n%s" % (replicas, image, extra)


GOOD = [
    ("minimal", spec()),
    ("article",
     "apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata:\n  name: emqx-ee\n"
     "spec:\n   replicas: 3\n   image: ferrymq:1.1\n"
     "   blueGreenUpdate:\n    initialDelaySeconds: 60\n    evacuationStrategy:\n"
     "      waitTakeover: 5\n      connEvictRate: 200\n      sessEvictRate: 200\n"),
    ("design",
     HEAD + "spec:\n  replicas: 3\n  image: ferrymq:1.1          # a version label\n"
     "  config: {}\n  updateStrategy: BlueGreen   # or Rolling\n  blueGreenUpdate:\n"
     "    initialDelaySeconds: 60\n"
     "    evacuationStrategy: {waitTakeover: 5, connEvictRate: 200, sessEvictRate: 200}\n"),
    ("all-fields",
     spec("  binary: /opt/ferrymq/bin/ferrymq\n"
          "  config:\n    max_inflight: 64\n    cluster_secret: \"s3 cr\\\"t\"\n"
          "    allow_anonymous: false\n    admin_token: ''\n"
          "  updateStrategy: Rolling\n  phaseTimeoutSeconds: 30\n  loadBalancer: kernel\n"
          "  blueGreenUpdate:\n    concurrency: 2\n    initialDelaySeconds: 0\n"
          "    evacuationStrategy: {connEvictRate: auto, waitTakeover: 0, sessEvictRate: 1}\n")),
    ("binary-only", HEAD + "spec: {replicas: 1, binary: /x}\n"),
    ("bounds-high",
     spec("  phaseTimeoutSeconds: 86400\n  blueGreenUpdate: {initialDelaySeconds: 86400, "
          "concurrency: 64, evacuationStrategy: {waitTakeover: 86400, connEvictRate: 1000000, "
          "sessEvictRate: 1000000}}\n", replicas="64")),
    ("config-many", spec("  config:\n" + "".join("    k%d: %d\n" % (i, i) for i in range(40)))),
    ("comments-and-markers", "%YAML 1.1\n---\n# a comment\n" + spec() + "...\n"),
    ("json-style",
     '{"apiVersion": "ferrymq.io/v1alpha1", "kind": "FerryCluster", "metadata": {"name": "a"},'
     ' "spec": {"replicas": 2, "image": "v2", "config": {"max_qos": "1"}}}'),
]

BAD = [
    ("empty", ""),
    ("null", "~\n"),
    ("list", "- a\n"),
    ("scalar", "hello\n"),
    ("emqx-api", spec().replace("ferrymq.io/v1alpha1", "apps.emqx.io/v1beta4")),
    ("kind", spec().replace("FerryCluster", "EmqxEnterprise")),
    ("no-spec", HEAD),
    ("replicas-0", spec(replicas="0")),
    ("replicas-65", spec(replicas="65")),
    ("replicas-quoted", spec(replicas='"3"')),
    ("replicas-octal", spec(replicas="03")),
    ("replicas-huge", spec(replicas="99999999999")),
    ("image-space", spec(image='"a b"')),
    ("image-nul", spec(image='"a\\0b"')),
    ("binary-relative", spec("  binary: bin/x\n")),
    ("unknown-field", spec("  replica: 3\n")),
    ("unknown-nested", spec("  blueGreenUpdate: {evacuationStrategy: {waitHealthCheck: 1}}\n")),
    ("twice", spec("  replicas: 4\n")),
    ("strategy", spec("  updateStrategy: RollingUpdate\n")),
    ("lb", spec("  loadBalancer: nginx\n")),
    ("rate-0", spec("  blueGreenUpdate: {evacuationStrategy: {connEvictRate: 0}}\n")),
    ("rate-Auto", spec("  blueGreenUpdate: {evacuationStrategy: {connEvictRate: Auto}}\n")),
    ("concurrency-over", spec("  blueGreenUpdate: {concurrency: 4}\n")),
    ("config-reserved", spec("  config: {listen: \"0.0.0.0:1883\"}\n")),
    ("config-nested", spec("  config: {a: {b: 1}}\n")),
    ("config-null", spec("  config: {a: ~}\n")),
    ("config-utf8", spec("  config: {a: \"\\u00e9\"}\n")),
    ("config-key", spec("  config: {Max: 1}\n")),
    ("unterminated", spec("  config: {a: 1\n")),
    ("indent", HEAD + "spec:\n  replicas: 3\n image: a\n"),
    ("tab", HEAD + "spec:\n  replicas: 3\n\timage: a\n"),
    ("control", "a: \x01\n"),
    ("bad-utf8", b"a: \xff\n"),
    ("two-docs", spec() + "---\n" + spec()),
    ("alias", spec("  blueGreenUpdate: &x {}\n  config: *x\n")),
    ("tag", spec("  phaseTimeoutSeconds: !!int 3\n")),
    ("deep", spec("  x: " + "[" * 20 + "]" * 20 + "\n")),
    ("key-mapping", spec("  ? {a: 1}\n  : 1\n")),
    ("hostile-key", spec('  "\\x01\\e[31m": 1\n')),
]


def b(s):
    return s.encode() if isinstance(s, str) else s


def all_seeds():
    seeds = {}
    for name, body in GOOD:
        seeds["seed-ok-" + name] = b(body)
    for name, body in BAD:
        seeds["seed-bad-" + name] = b(body)
    return seeds


def main():
    return seedfiles.main("make_spec_corpus.py", {"fuzz_spec": all_seeds()})


if __name__ == "__main__":
    sys.exit(main())
