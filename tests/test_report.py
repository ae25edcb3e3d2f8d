"""The HTML report: self-contained, every plot present, from JSON rows or the store."""

import json
import re
from pathlib import Path

import pytest

from obliviate.report import build_report


@pytest.fixture(scope="module")
def bench_rows(tmp_path_factory):
    from obliviate import bench
    from obliviate.core.store import Store

    home = tmp_path_factory.mktemp("report_home")
    plan = bench.plan("digits", "class:3", ["retrain", "ft", "ssd"], [0, 1])
    return bench.run(plan, Store(home), show_progress=False), home


def _assert_self_contained(text: str) -> None:
    assert "<script" not in text and "<link" not in text and "<img" not in text and "@import" not in text
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", text)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)


def test_bench_report_has_table_and_plots(bench_rows):
    rows, _ = bench_rows
    text = build_report(rows, "digits class 3")
    _assert_self_contained(text)
    for plot in ("tradeoff", "time-vs-gap"):
        figure = re.search(rf"<figure id='{plot}'>(.*?)</figure>", text, re.S)
        assert figure and "<svg" in figure.group(1) and "</svg>" in figure.group(1)
    assert text.count("<tr>") == 1 + 4  # header + original, retrain, ft, ssd
    assert "none tuned" in text


def test_eval_report_has_challenge_and_confidence_plots(eval_rows):
    rows = list(eval_rows.values())
    text = build_report(rows)
    _assert_self_contained(text)
    for plot in ("tradeoff", "challenge", "confidence"):
        assert re.search(rf"<figure id='{plot}'><svg", text)
    assert len(rows[0]["forget_confidence"]) == len(rows[0]["original_confidence"]) > 100


def test_report_marks_tuned_methods(bench_rows):
    rows, _ = bench_rows
    tuned = [dict(r) for r in rows]
    for r in tuned:
        if r["method"] == "ssd":
            r["tuned"] = {"measured_on": "validation split", "task": "digits", "forget": "class:3", "budget": 20,
                          "default_gap": 1.0, "best_gap": 0.5}
    text = build_report(tuned)
    assert "ssd: hyperparameters tuned on the validation split of digits class:3 (20 trials" in text
    for r in tuned:
        if "tuned" in r:
            r["tuned"] = r["tuned"] | {"overridden": ["alpha"]}
    assert "then set by hand: alpha" in build_report(tuned)


RESULTS = Path(__file__).parent.parent / "bench" / "results"


@pytest.mark.parametrize("name,labels", [
    ("tofu-mini_forget05.json", ("model utility", "−log10 forget quality")),
    ("digits-canvas_object_3.json", ("IRA (%): other digits drawn right", "Avg. Gap to retrain")),
])
def test_language_model_and_diffusion_rows_get_their_own_plots(name, labels):
    """The committed benchmark results of the other tracks: each gets its own trade-off
    axes and the time-vs-distance plot."""
    text = build_report(json.loads((RESULTS / name).read_text()))
    _assert_self_contained(text)
    for plot in ("tradeoff", "time-vs-gap"):
        assert re.search(rf"<figure id='{plot}'><svg", text)
    for label in labels:
        assert label in text


def test_cli_report_from_json_and_from_store(bench_rows, tmp_path):
    from obliviate.cli import main

    rows, home = bench_rows
    results = tmp_path / "rows.json"
    results.write_text(json.dumps(rows))
    assert main(["report", str(results), "--out", str(tmp_path / "a.html")]) == 0
    assert main(["--home", str(home), "report", "--task", "digits", "--forget", "class:3",
                 "--out", str(tmp_path / "b.html")]) == 0
    a, b = (tmp_path / "a.html").read_text(), (tmp_path / "b.html").read_text()
    assert "<figure id='tradeoff'>" in a and a.count("<tr>") == b.count("<tr>")


def test_cli_report_bad_input(tmp_path, capsys):
    from obliviate.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["report", str(bad), "--out", str(tmp_path / "r.html")]) == 2
    assert "does not hold bench or eval rows" in capsys.readouterr().err
    assert main(["--home", str(tmp_path / "h"), "report", "--task", "digits", "--out", str(tmp_path / "r.html")]) == 2
    assert not (tmp_path / "r.html").exists()
