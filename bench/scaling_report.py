"""The figures and the printed report of bench/scaling.py (how they are measured: its docstring).

``build_figures`` turns the per-run results into figures (``bench.common.results.figure``:
each run's value, the median and the spread), ``print_report`` prints the tables: the
machine, anchoring, receipts, footprint, where the time went, and -- when measured --
anchoring with a TSA in the loop and the evidence certificate's cost.
"""
from __future__ import annotations

import argparse
import statistics
from typing import Any

from bench.common.machine import machine_rows
from bench.common.results import figure, number, print_grid, print_table

MILLION = 1_000_000


def _extrapolated(entries: int) -> str:
    return "measured" if entries >= MILLION else f"extrapolated linearly from {entries:,} entries"


def _rss_growth_per_million(r: dict[str, Any]) -> float:
    """VmRSS growth per 10^6 entries over the last half (the first may still fill caches)."""
    ph = r["phases"]
    start = ph[-2]["rss_kib"] if len(ph) > 1 else r["before"]["rss_kib"]
    return (ph[-1]["rss_kib"] - start) / 1024 * MILLION / ph[-1]["entries"]


def _per_entry_halves(r: dict[str, Any], key: str, scale: float = 1.0) -> str:
    """Growth of `key` per entry in each half, "first/second"."""
    prev = [r["before"][key]] + [p[key] for p in r["phases"][:-1]]
    return "/".join(number((p[key] - q) * scale / p["entries"]) for p, q in zip(r["phases"], prev))


def build_figures(results: dict[int, list[dict[str, Any]]],
                  tsa_results: dict[int, list[dict[str, Any]]] | None = None) -> list[dict[str, Any]]:
    figures = []
    for b, runs in (tsa_results or {}).items():
        plain = {r["run"]: r for r in results[b]}
        how = f"{runs[0]['txs']:,} txs x {b:,} entries"
        figures += [
            figure(f"scaling.anchor_tsa.entries_per_s.b{b}", "entries/s", [r["entries_per_s"] for r in runs],
                   group="trusted time", note=f"{how}; one RFC 3161 token per batch from `ledger tsa serve` on "
                                              "127.0.0.1, asked before signing; client + node time"),
            figure(f"scaling.anchor_tsa.ratio.b{b}", "ratio", [r["entries_per_s"] / plain[r["run"]]["entries_per_s"]
                                                             for r in runs],
                   group="trusted time", note="entries/s with the TSA / without, run by run (target: >= 0.9)"),
            figure(f"scaling.tsa.token_ms.b{b}", "ms", [r["token_ms"] for r in runs], better="lower",
                   group="trusted time", note="client.timestamping.request_timestamp: one token (HTTP, ECDSA P-256, "
                                              "two fsyncs), median of the run's batches"),
            figure(f"scaling.receipt.verify_tsa_ms.b{b}", "ms", [r["verify_ms"] for r in runs], better="lower",
                   group="trusted time", note="verify_receipt offline with the TSA root: steps 1-11, median call"),
        ]
        if runs[0].get("certificate_s") is not None:
            figures.append(figure(f"scaling.certificate_tsa_s.b{b}", "s", [r["certificate_s"] for r in runs],
                                  better="lower", group="certificates",
                                  note="render_certificate with the TSA time: layout, QR, attachment, PAdES signature"))
    for b, runs in results.items():
        entries, txs = runs[0]["entries"], runs[0]["txs"]
        how = f"{txs:,} txs x {b:,} entries"
        per_million = [MILLION / r["entries"] for r in runs]
        anchor_what = "the digest itself (anchor)" if b == 1 else "RFC 9162 root (anchor_batch)"
        figures += [
            figure(f"scaling.anchor.entries_per_s.b{b}", "entries/s", [r["entries_per_s"] for r in runs], group="anchoring",
                   note=f"{how}; {anchor_what}; client (root + sign) + node (first send -> last tx in a block)"),
            figure(f"scaling.anchor.tx_per_s.b{b}", "tx/s", [r["tx_per_s"] for r in runs], group="anchoring",
                   note=f"{how}; client + node time"),
            figure(f"scaling.anchor.node_entries_per_s.b{b}", "entries/s", [r["node_entries_per_s"] for r in runs],
                   group="anchoring", note=f"{how}; node only: first send -> last tx in a block"),
            figure(f"scaling.anchor.client_us_per_entry.b{b}", "us/entry", [r["client_us_per_entry"] for r in runs],
                   better="lower", group="anchoring", note=f"{how}; leaf hashes + root + ABI encoding + eth-account signing"),
            figure(f"scaling.receipt.bytes.b{b}", "bytes", [r["receipt"]["bytes"] for r in runs], better="lower",
                   group="receipts", note="to_json() of the batch's first/middle/last entry's receipt, median"),
        ]
        if b > 1:
            figures.append(figure(f"scaling.receipt.merkle_bytes.b{b}", "bytes", [r["receipt"]["merkle_bytes"] for r in runs],
                                  better="lower", group="receipts",
                                  note=f"the receipt's batch member (root, index, size, {runs[0]['receipt']['path_hashes']} path hashes)"))
        figures += [
            figure(f"scaling.receipt.verify_ms.b{b}", "ms", [r["verify_ms"] for r in runs], better="lower", group="receipts",
                   note="verify_receipt offline (parsed receipt, digest given), median call of each run"),
            figure(f"scaling.receipt.build_s.b{b}", "s", [r["build_s"] for r in runs], better="lower", group="receipts",
                   note=f"client.anchoring.receipts_for: the {b:,} receipts of one batch (4 RPC reads + build_receipts)"),
            *([figure(f"scaling.certificate_s.b{b}", "s", [r["certificate_s"] for r in runs], better="lower",
                      group="certificates", note="client.evidence_pdf.render_certificate of a verified receipt: layout, "
                                                 "font subset, QR, attachment, PAdES signature (P-256), median")]
              if runs[0].get("certificate_s") is not None else []),
            figure(f"scaling.disk_mb_per_million.b{b}", "MB", [(r["disk_stopped_bytes"] - r["before"]["disk_bytes"]) / 1e6 * m
                                                               for r, m in zip(runs, per_million)],
                   better="lower", group="footprint",
                   note=f"data dir growth, node stopped, per 10^6 entries; {_extrapolated(entries)}"),
            figure(f"scaling.rss_mb.b{b}", "MiB", [r["vmhwm_kib"] / 1024 for r in runs], better="lower", group="footprint",
                   note=f"node VmHWM after anchoring {entries:,} entries (absolute, not scaled)"),
            figure(f"scaling.rss_final_mb.b{b}", "MiB", [r["rss_end_kib"] / 1024 for r in runs], better="lower",
                   group="footprint", note=f"node VmRSS after anchoring {entries:,} entries (absolute, not scaled)"),
            figure(f"scaling.rss_growth_mb_per_million.b{b}", "MiB", [_rss_growth_per_million(r) for r in runs],
                   better="lower", group="footprint",
                   note=f"node VmRSS growth per 10^6 entries over the 2nd half of the anchoring "
                        f"({entries - entries // 2:,} entries; {_extrapolated(entries)})"),
        ]
    return figures


def _mid(fig: dict[str, Any]) -> str:
    cell = number(fig["median"])
    if len(fig["runs"]) > 1:
        cell += f" ±{fig['spread_pct']:.0f}%"
    return cell


def print_report(results: dict[int, list[dict[str, Any]]], figures: list[dict[str, Any]], info: dict[str, Any],
                 args: argparse.Namespace, elapsed: float,
                 tsa_results: dict[int, list[dict[str, Any]]] | None = None) -> None:
    by_name = {f["name"]: f for f in figures}
    print_table("machine", machine_rows(info) + [
        ("runs (median of, spread = (max-min)/median)", args.runs),
        ("idle wait before each batch size", f"{args.idle_wait} s"),
        ("wall time of the benchmark", f"{elapsed:.0f} s"),
    ])
    rows = []
    for b, runs in results.items():
        g = lambda name: _mid(by_name[f"scaling.{name}.b{b}"])  # noqa: E731
        rows.append([
            f"{b:,}", f"{runs[0]['txs']:,}", f"{runs[0]['entries']:,}",
            g("anchor.entries_per_s"), g("anchor.tx_per_s"), g("anchor.node_entries_per_s"),
            g("anchor.client_us_per_entry"),
        ])
    print_grid("anchoring (median of runs ±spread)", ["B", "txs", "entries", "entries/s", "tx/s", "node-only entries/s",
                                                       "client µs/entry"], rows)
    rows = []
    for b, runs in results.items():
        g = lambda name: _mid(by_name[f"scaling.{name}.b{b}"])  # noqa: E731
        rec = runs[0]["receipt"]
        rows.append([
            f"{b:,}", g("receipt.bytes"),
            (g("receipt.merkle_bytes") + f" ({rec['path_hashes']} hashes)") if b > 1 else "- (no tree)",
            g("receipt.verify_ms"), f"{statistics.median(r['parse_ms'] for r in runs):.2f}",
            g("receipt.build_s"), f"{runs[0]['receipt_block_txs']:,}",
        ])
    print_grid("receipts (median of runs ±spread)", ["B", "receipt bytes", "Merkle path bytes", "verify ms", "parse ms",
                                                      "build s (whole batch)", "txs in its block"], rows)
    parts = [[f"{b:,}"] + [str(v) for v in runs[0]["receipt"]["parts"].values()] for b, runs in results.items()]
    print_grid("receipt parts, bytes of JSON (run 1, median sample)",
               ["B"] + list(next(iter(results.values()))[0]["receipt"]["parts"]), parts)
    rows = []
    for b, runs in results.items():
        g = lambda name: _mid(by_name[f"scaling.{name}.b{b}"])  # noqa: E731
        rows.append([
            f"{b:,}", f"{runs[0]['entries']:,}", g("disk_mb_per_million"),
            ", ".join(_per_entry_halves(r, "disk_bytes") for r in runs),
            f"{statistics.median(r['disk_stopped_bytes'] - r['phases'][-1]['disk_bytes'] for r in runs):,}",
            g("rss_mb"), g("rss_final_mb"), ", ".join(_per_entry_halves(r, "rss_kib", 1024) for r in runs),
            g("rss_growth_mb_per_million"),
        ])
    print_grid("footprint (median of runs ±spread; per-run values comma-separated)",
               ["B", "entries", "disk MB / 10^6 entries", "live disk bytes/entry, 1st/2nd half",
                "stop - live bytes", "RSS HWM MiB", "RSS final MiB", "RSS bytes/entry, 1st/2nd half",
                "RSS growth MiB / 10^6 (2nd half)"], rows)
    rows = []
    for b, runs in results.items():
        for r in runs:
            rows.append([
                f"{b:,}", str(r["run"]), f"{r['hash_s']:.2f}", f"{r['sign_s']:.2f}", f"{r['node_s']:.2f}",
                " + ".join(f"{p['blocks']}" for p in r["phases"]), f"{max(p['max_txs_per_block'] for p in r['phases'])}",
                f"{r['gas_used_per_tx']:,}", f"{r['node_start_s']:.1f}",
                "-" if r["idle_wait"]["idle"] is None else ("yes" if r["idle_wait"]["idle"] else "NO"),
            ])
    print_grid("where the time went, per run", ["B", "run", "hash s", "sign s", "node s", "blocks (halves)",
                                                "max txs/block", "gas used/tx", "node start s", "idle before"], rows)
    if tsa_results:
        rows = []
        for b, runs in tsa_results.items():
            g = lambda name: _mid(by_name[f"scaling.{name}.b{b}"])  # noqa: E731
            rows.append([
                f"{b:,}", f"{runs[0]['txs']:,}", g("anchor.entries_per_s"), g("anchor_tsa.entries_per_s"),
                g("anchor_tsa.ratio"), g("tsa.token_ms"), g("receipt.verify_ms"), g("receipt.verify_tsa_ms"),
                ", ".join(f"{r['token_wait_s']:.2f}/{r['client_s']:.2f}/{r['node_s']:.2f}" for r in runs),
            ])
        print_grid("trusted time: anchoring with a TSA in the loop (median of runs ±spread)",
                   ["B", "txs", "entries/s without", "entries/s with TSA", "with / without", "token ms",
                    "verify ms without", "verify ms with TSA", "token wait/client/node s per run"], rows)
    certificates = [(f"{b:,}", _mid(by_name[f"scaling.certificate_s.b{b}"])) for b in results
                    if f"scaling.certificate_s.b{b}" in by_name]
    certificates += [(f"{b:,} (TSA time)", _mid(by_name[f"scaling.certificate_tsa_s.b{b}"])) for b in (tsa_results or {})
                     if f"scaling.certificate_tsa_s.b{b}" in by_name]
    if certificates:
        print_grid(f"evidence certificate: render_certificate, median of {args.certificates} per run ±spread",
                   ["receipt of B", "seconds"], [list(row) for row in certificates])
