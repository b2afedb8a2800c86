"""bench/soak's pure parts: arguments, block intervals by phase, latency and RSS summaries,
the verdicts, answer classification and the abusive request bodies. The soak itself
starts a cluster and runs for minutes; it is run by hand (BENCHMARKS.md), not here."""
from __future__ import annotations

import json

import pytest

from bench.common.load import SeenBlock
from bench.common.machine import machine_info
from bench.soak import abuse, measure, run, wire
from bench.soak.report import markdown


def test_arguments_default_and_checked() -> None:
    args = run.parse_args([])
    assert args.seconds == 180 and args.idle_seconds == 20 and args.validators == 4
    assert args.empty_block_period == args.block_period == 1  # every height timed by the period
    assert args.skip == frozenset()
    args = run.parse_args(["--seconds", "60", "--block-period", "2", "--skip", "pki_tx, sse"])
    assert args.seconds == 60 and args.empty_block_period == 2 and args.skip == {"pki_tx", "sse"}
    only = run.parse_args(["--only", "fee_history,flood"])
    assert only.skip == set(abuse.ABUSE_KINDS) - {"fee_history", "flood"}
    for bad in (["--skip", "nope"], ["--seconds", "-1"], ["--seconds", "nan"], ["--validators", "0"],
                ["--block-period", "2", "--empty-block-period", "1"], ["--only", "flood", "--skip", "sse"]):
        with pytest.raises(SystemExit):
            run.parse_args(bad)


def test_block_intervals_skip_genesis_and_refuse_gaps() -> None:
    blocks = [SeenBlock(0, 0, 0.0, 0), SeenBlock(1, 1_000, 0.9, 0), SeenBlock(2, 1_001, 2.0, 1), SeenBlock(3, 1_003, 4.5, 2)]
    intervals = measure.block_intervals(blocks)
    assert [i["number"] for i in intervals] == [2, 3]  # block 1's parent is genesis: no interval
    assert [i["header_s"] for i in intervals] == [1, 2]
    assert [round(i["observed_s"], 3) for i in intervals] == [1.1, 2.5]
    with pytest.raises(ValueError, match="not consecutive"):
        measure.block_intervals([SeenBlock(5, 10, 0.0, 0), SeenBlock(7, 12, 1.0, 0)])


def test_interval_summary_per_phase_counts_a_stopped_chain() -> None:
    blocks = [SeenBlock(n, 100 + n, float(n), 0) for n in range(1, 12)]  # one a second, t = 1..11
    bounds = {"idle": (0.0, 6.0), "abuse": (6.0, 20.0)}
    summary = measure.interval_summary(measure.block_intervals(blocks), bounds)
    assert summary["idle"]["blocks"] == 4 and summary["idle"]["observed_max_s"] == 1.0  # blocks 2..5
    assert summary["abuse"]["blocks"] == 6 and summary["abuse"]["header_max_s"] == 1
    # no block after t = 11 in a phase that ends at 20: the chain stopped for 9 s
    assert summary["abuse"]["longest_gap_s"] == 9.0
    empty = measure.interval_summary([], {"abuse": (0.0, 5.0)})["abuse"]
    assert empty["blocks"] == 0 and empty["observed_max_s"] is None and empty["longest_gap_s"] == 5.0


def test_latency_summary_counts_failures_with_their_time() -> None:
    samples = [(0.010, True)] * 98 + [(0.500, True), (10.0, False)]
    s = measure.latency_summary(samples)
    assert s["n"] == 100 and s["failed"] == 1 and s["failed_share"] == 0.01
    # nearest rank (bench.common.stats.percentile): p50 of 100 is the 50th, p99 the 99th
    assert s["p50_ms"] == pytest.approx(10.0) and s["p99_ms"] == pytest.approx(500.0) and s["max_ms"] == pytest.approx(10_000.0)
    assert measure.latency_summary([])["p99_ms"] is None


def test_rss_summary_and_verdicts() -> None:
    bounds = {"idle": (0.0, 10.0), "abuse": (10.0, 20.0)}
    samples = [(1.0, [100 * 1024, 100 * 1024]), (5.0, [100 * 1024, 100 * 1024]),
               (12.0, [150 * 1024, 250 * 1024]), (25.0, [999 * 1024, 999 * 1024])]  # t = 25: outside every phase
    rss = measure.rss_summary(samples, ["a", "b"], bounds)
    assert rss["a"]["idle_mean_mib"] == 100 and rss["a"]["abuse_max_mib"] == 150 and rss["a"]["abuse_over_idle"] == 1.5
    assert rss["b"]["abuse_over_idle"] == 2.5
    # a spike between two samples: the kernel's high-water mark when the abuse ended counts
    peaked = measure.rss_summary(samples, ["a", "b"], bounds, hwm_after_abuse=[220.0, 120.0])
    assert peaked["a"]["abuse_peak_mib"] == 220 and peaked["a"]["abuse_over_idle"] == 2.2
    assert peaked["b"]["abuse_peak_mib"] == 250  # the sampled max was higher
    blocks = {"abuse": {"observed_max_s": 1.4, "longest_gap_s": 1.9}}
    v = measure.verdicts(blocks, rss, period=1.0)
    assert v["block_interval"]["verdict"] == "PASS" and v["block_interval"]["worst_s"] == 1.9
    assert v["rss"]["verdict"] == "FAIL" and v["rss"]["worst_ratio"] == 2.5
    stalled = measure.verdicts({"abuse": {"observed_max_s": None, "longest_gap_s": 25.0}}, {"a": rss["a"]}, period=1.0)
    assert stalled["block_interval"]["verdict"] == "FAIL" and stalled["rss"]["verdict"] == "PASS"
    assert measure.verdicts({}, {}, period=1.0)["block_interval"]["verdict"] == "FAIL"  # nothing seen proves nothing


def test_classify_answers() -> None:
    assert wire.classify(200, {"jsonrpc": "2.0", "id": 1, "result": "0x1"}) == "answered"
    assert wire.classify(200, {"jsonrpc": "2.0", "id": 1, "error": {"code": -32005}}) == "refused"
    assert wire.classify(429, None) == "refused" and wire.classify(413, {"error": "x"}) == "refused"
    assert wire.classify(200, [{"result": 1}, {"error": {"code": 1}}]) == "answered"
    assert wire.classify(200, [{"error": {"code": 1}}, {"error": {"code": 2}}]) == "refused"
    assert wire.classify(200, None) == "answered"  # a 200 too large to parse is an answer


def test_abusive_bodies_are_what_the_findings_say() -> None:
    fee = json.loads(abuse.fee_history_body(1000))
    assert fee["method"] == "eth_feeHistory" and fee["params"][:2] == ["0x400", "latest"] and fee["params"][2] == [1] * 1000
    assert len(abuse.fee_history_body()) < 5 * 1024 * 1024  # under the node's body cap, as in the finding
    body = abuse.filter_topics_body(200_000)
    assert 199_900 < len(body) <= 200_000
    topics = json.loads(body)["params"][0]["topics"][0]
    assert len(topics) == len(set(topics)) > 2_500 and all(len(t) == 66 for t in topics)


def test_gas_burner_code_layout() -> None:
    code = abuse.gas_burner_code(9_900_000)
    assert code[0] == 0x5A and code[1] == 0x62 and int.from_bytes(code[2:5], "big") == 9_900_000
    jumpdests = {i for i, op in enumerate(code) if op == 0x5B}
    # every PUSH1 before a JUMP/JUMPI targets a JUMPDEST
    targets = [code[i + 1] for i in range(len(code) - 2) if code[i] == 0x60 and code[i + 2] in (0x56, 0x57)]
    assert targets and set(targets) <= jumpdests
    assert code[-1] == 0x00 and len(code) < 100  # a ~100-byte request, as the finding says
    with pytest.raises(ValueError):
        abuse.gas_burner_code(2**24)


def test_markdown_has_the_verdicts_and_every_abuse_kind() -> None:
    bounds = {"idle": (0.0, 10.0), "legit": (10.0, 20.0), "abuse": (20.0, 40.0), "recovery": (40.0, 50.0)}
    blocks = measure.interval_summary(measure.block_intervals([SeenBlock(n, n, float(n), 0) for n in range(1, 50)]), bounds)
    rss = measure.rss_summary([(5.0, [100 * 1024]), (30.0, [300 * 1024])], ["validator-0"], bounds)
    document = {
        "machine": machine_info(),
        "settings": {"commit": "abc1234", "validators": 4, "block_period_s": 1.0, "empty_block_period_s": 1,
                     "target": "validator-0", "blocks_followed_on": "validator-3"},
        "verdicts": measure.verdicts(blocks, rss, 1.0), "blocks": blocks, "rss": rss,
        "legit_calls": {"eth_blockNumber": {ph: measure.latency_summary([(0.002, True)]) for ph in bounds}},
        "legit_commit": {ph: {"sent": 1, "committed": 1, "p50_s": 1.0, "p99_s": 1.0, "max_s": 1.0} for ph in bounds},
        "abuse": {"kinds": {k: {"what": w, "sent": 2, "answered": 1, "refused": 1, "failed": 0, "errors": ["HTTP 429: x"]}
                            for k, w in abuse.ABUSE_KINDS.items()}},
    }
    text = markdown(document)
    assert "| longest block interval (or time without a block) | ≤ 2 s | 1.00 s | **PASS** |" in text
    assert "| RSS, worst node, peak / idle mean | ≤ 2× | 3.00× | **FAIL** |" in text
    assert "commit abc1234" in text and "| CPU |" in text
    for kind in abuse.ABUSE_KINDS:
        assert f"| {kind} | " in text
