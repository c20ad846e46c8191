#!/usr/bin/env python3
"""Exactly-once check of a space after a chaos scenario (scripts/chaos.sh).

  ledger_check.py LEDGER_URL AUDITOR_TOKEN_FILE NODE_URL:TOKEN_FILE ...

Reads every record of the ledger (auditor token) and every agreement and
transfer each node holds (operator token), then checks:
  - no record is doubled: one agreement.signed per agreement, one
    transfer.authorized per transfer, one transfer.completed per (transfer, actor);
  - every agreement a node holds is on the ledger exactly once;
  - every transfer a consumer holds as COMPLETED has its completion on the
    ledger, once, by that consumer;
  - every node's outbox is drained (nothing pending or refused).
Prints one summary line; exits 1 naming the first problem.
"""
import collections
import json
import re
import sys
import urllib.parse
import urllib.request


def get(url, token):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def get_all(url, token):
    """Every row of a node's list, following its Link rel="next" pages."""
    rows = []
    while url:
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=30) as r:
            rows += json.load(r)
            link = r.headers.get("Link") or ""
        m = re.fullmatch(r'<([^>]*)>; rel="next"', link)
        if link and not m:
            sys.exit(f"{url}: header Link {link!r} is not one <URL>; rel=\"next\"")
        url = urllib.parse.urljoin(url, m.group(1)) if m else ""
    return rows


def main():
    ledger, tok_file, nodes = sys.argv[1], sys.argv[2], sys.argv[3:]
    tok = open(tok_file).read().strip()
    recs, cursor = [], ""
    while True:
        page = get(f"{ledger}/ledger/v1/records?limit=1000" + (f"&cursor={cursor}" if cursor else ""), tok)
        recs += [e["record"] for e in page.get("records") or []]
        cursor = page.get("next") or ""
        if not cursor:
            break
    groups = collections.Counter()
    for r in recs:
        k = r["kind"]
        if k == "agreement.signed":
            groups[(k, r.get("agreement"), "")] += 1
        elif k == "transfer.authorized":
            groups[(k, r.get("transfer"), "")] += 1
        elif k == "transfer.completed":
            groups[(k, r.get("transfer"), r.get("actor"))] += 1
    doubled = [g for g, n in groups.items() if n > 1]
    if doubled:
        sys.exit(f"doubled on the ledger: {doubled[:5]}")
    signed = {g[1] for g in groups if g[0] == "agreement.signed"}
    completed = collections.Counter((g[1], g[2]) for g in groups if g[0] == "transfer.completed")
    n_ag = n_done = 0
    for spec in nodes:
        url, tf = spec.rsplit(":", 1) if spec.count(":") > 2 else (spec, None)
        ntok = open(tf).read().strip()
        for a in get_all(f"{url}/api/v1/agreements", ntok):
            n_ag += 1
            if a["id"] not in signed:
                sys.exit(f"{url}: agreement {a['id']} is not on the ledger")
        out = get(f"{url}/api/v1/outbox", ntok)
        if out.get("pending") or out.get("refused"):
            sys.exit(f"{url}: outbox not drained: pending {len(out.get('pending') or [])}, refused {len(out.get('refused') or [])}")
        for x in get_all(f"{url}/api/v1/transfers", ntok):
            if x["role"] == "consumer" and x["state"] == "COMPLETED":
                n_done += 1
                # the ledger's transfer id is the provider's; the consumer's record names it
                if not any(k[0] in (x["id"], x.get("peerPid")) for k in completed):
                    sys.exit(f"{url}: completed transfer {x['id']} (provider {x.get('peerPid')}) has no transfer.completed record")
    print(f"{len(recs)} records; {n_ag} agreements held, each signed once on the ledger; {n_done} completed pulls recorded; 0 doubled; outboxes drained")


if __name__ == "__main__":
    main()
