#!/usr/bin/env python
"""Merge the two Lightning CSV logs of the shipped run: part 1 (steps 0-3250) and part 2 (resumed).
Part 1's validation columns came from the EMA model with corrupted token ids (a bug fixed at the
resume), so they are dropped; its training loss is kept."""
import csv
import sys


p1, p2, out = sys.argv[1:4]
rows1 = list(csv.DictReader(open(p1))); rows2 = list(csv.DictReader(open(p2)))
fields = list(dict.fromkeys(list(rows1[0].keys()) + list(rows2[0].keys())))
last2 = min(int(r["step"]) for r in rows2 if r.get("step"))
merged = []
for r in rows1:
    if r.get("step") and int(r["step"]) >= last2:
        continue
    r = {k: ("" if k.startswith("val/") else v) for k, v in r.items()}
    merged.append(r)
merged += rows2
merged = [r for r in merged if any(r.get(k) for k in fields if k not in ("epoch", "step"))]
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=fields); w.writeheader()
    for r in merged: w.writerow({k: r.get(k, "") for k in fields})
print(len(merged), "rows")
