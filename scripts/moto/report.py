"""Summarises a moto conformance run: passed / failed per file, and each failure's class from the
classification table (test id, class, reason; tab-separated). A failure the table does not name is
printed as unclassified: it is either new or an iamd bug."""

import collections
import sys
import xml.etree.ElementTree as ET

results, table = sys.argv[1], sys.argv[2]
classes = {}
for line in open(table):
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    tid, cls, reason = (line.split("\t") + ["", ""])[:3]
    classes[tid] = (cls, reason)

per_file = collections.OrderedDict()
failures = []
for case in ET.parse(results).getroot().iter("testcase"):
    f = case.get("classname", "").replace(".", "/") + ".py"
    tid = f"{case.get('classname').split('.')[-1]}::{case.get('name')}"
    row = per_file.setdefault(f, collections.Counter())
    if case.find("skipped") is not None:
        row["skipped"] += 1
    elif case.find("failure") is not None or case.find("error") is not None:
        row["failed"] += 1
        failures.append(tid)
    else:
        row["passed"] += 1

total = collections.Counter()
print(f"{'file':<45} {'passed':>7} {'failed':>7} {'skipped':>8}")
for f, c in per_file.items():
    total.update(c)
    print(f"{f:<45} {c['passed']:>7} {c['failed']:>7} {c['skipped']:>8}")
print(f"{'total':<45} {total['passed']:>7} {total['failed']:>7} {total['skipped']:>8}")

by_class = collections.defaultdict(list)
for tid in failures:
    base = tid.split("[")[0]
    cls, reason = classes.get(tid) or classes.get(base) or ("unclassified", "")
    by_class[cls].append((tid, reason))
print()
for cls in ("missing", "moto", "iamd", "unclassified"):
    items = by_class.get(cls, [])
    print(f"{cls}: {len(items)}")
    for tid, reason in items:
        print(f"  {tid}  {reason}")
stale = [t for t in classes if t not in failures and not any(f.split('[')[0] == t for f in failures)]
if stale:
    print(f"\nclassified but passing now ({len(stale)}): " + ", ".join(stale))
