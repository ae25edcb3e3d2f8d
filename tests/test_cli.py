import json
import subprocess
import sys

import pytest

from obliviate.cli import main
from obliviate.core.store import Store

ROW_KEYS = {"task", "forget", "method", "seed", "metrics", "avg_gap"}
METRIC_KEYS = {"forget_acc", "retain_acc", "test_acc", "mia_efficacy", "seconds"}


def test_methods_and_tasks_commands_list_everything(capsys):
    assert main(["methods", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"retrain", "ft", "ga", "neggrad_plus", "rl"} <= {m["name"] for m in listed if m["track"] == "classifier"}
    assert {"npo", "simnpo", "rmu"} <= {m["name"] for m in listed if m["track"] == "lm"}
    assert {"esd", "uce", "ca", "salun", "ga_retain", "retrain"} <= {m["name"] for m in listed
                                                                     if m["track"] == "diffusion"}
    assert main(["tasks", "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)
    assert {t["name"] for t in tasks} == {"digits", "mnist1d", "cifar10", "cifar100", "imagefolder", "tofu-mini", "tofu-mini-text", "diabetes",
                                          "digits-canvas"}
    assert next(t for t in tasks if t["name"] == "digits-canvas")["track"] == "diffusion"
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "neggrad_plus" in out and "esd" in out
    assert main(["methods", "--track", "diffusion"]) == 0
    assert "uce" in capsys.readouterr().out


def test_bench_prints_a_table_writes_json_rows_and_records_them(shared_home, tmp_path, capsys):
    out = tmp_path / "out.json"
    code = main(["--home", str(shared_home), "bench", "--task", "digits", "--forget", "class:3",
                 "--methods", "retrain,ga,rl", "--seeds", "0,1", "--json", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    for word in ("original", "retrain", "ga", "rl", "UA", "RA", "TA", "MIA-eff", "Avg.Gap", "time(s)", "±"):
        assert word in printed
    rows = json.loads(out.read_text())
    assert len(rows) == 4 * 2  # original, retrain, ga, rl × 2 seeds
    for row in rows:
        assert ROW_KEYS <= set(row) and METRIC_KEYS <= set(row["metrics"])
        assert row["task"] == "digits" and row["forget"] == "class:3"
    by = {(r["method"], r["seed"]): r for r in rows}
    assert by[("retrain", 0)]["avg_gap"] == 0.0
    assert by[("original", 0)]["metrics"]["forget_acc"] == 100.0
    assert by[("rl", 0)]["avg_gap"] < by[("original", 0)]["avg_gap"]
    assert len(Store(shared_home).runs(task="digits")) == 8
    kinds = sorted(m["kind"] for m in Store(shared_home).models())
    assert kinds == ["original", "original", "retrain", "retrain"]


def test_bench_reuses_cached_models_and_is_deterministic(shared_home, tmp_path):
    out1, out2 = tmp_path / "a.json", tmp_path / "b.json"
    args = ["--home", str(shared_home), "bench", "--task", "digits", "--forget", "class:3",
            "--methods", "rl", "--seeds", "0", "--no-progress"]
    assert main(args + ["--json", str(out1)]) == 0
    models_after_first = Store(shared_home).models()
    assert main(args + ["--json", str(out2)]) == 0
    assert Store(shared_home).models() == models_after_first  # nothing retrained
    strip = lambda rows: [{k: v for k, v in r.items() if k != "metrics"} | {"m": {k: v for k, v in r["metrics"].items() if not k.endswith("seconds")}} for r in rows]
    assert strip(json.loads(out1.read_text())) == strip(json.loads(out2.read_text()))


@pytest.mark.parametrize("args, message", [
    (["--task", "cifar", "--forget", "class:3", "--methods", "ga"], "unknown task 'cifar'"),
    (["--task", "digits", "--forget", "class:3", "--methods", "gaa"], "unknown method 'gaa'"),
    (["--task", "digits", "--forget", "class:3", "--methods", "ga", "--set", "ga.lrr=1"], "unknown hyperparameter 'lrr'"),
    (["--task", "digits", "--forget", "class:3", "--methods", "ga", "--set", "ga.lr=fast"], "ga.lr must be a number"),
    (["--task", "digits", "--forget", "class:3", "--methods", "ga", "--set", "rl.lr=1"], "not among the methods"),
    (["--task", "digits", "--forget", "class:3", "--methods", "retrain", "--set", "retrain.nosuch=1"], "nosuch"),
    (["--task", "digits", "--forget", "class:12", "--methods", "ga"], "out of range"),
    (["--task", "digits", "--forget", "random:2", "--methods", "ga"], r"\(0, 1\)"),
    (["--task", "digits", "--forget", "class:3", "--methods", "ga", "--seeds", "0,x"], "--seeds takes"),
    (["--task", "digits", "--forget", "class:3", "--methods", "ga,ga"], "listed twice"),
    (["--task", "digits", "--forget", "class:3", "--methods", "ga", "--json", "/no/such/dir/x.json"], "does not exist"),
])
def test_bad_bench_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    home = tmp_path / "home"
    code = main(["--home", str(home), "bench", *args, "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("obliviate: error:") and "\n" not in err
    assert __import__("re").search(message, err), err
    assert not home.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, message", [
    ("5\n5\n", "duplicated forget ids"), ("99999\n", "out of range"), ("", "forget set is empty"),
])
def test_bad_ids_files_write_nothing(tmp_path, capsys, content, message):
    ids = tmp_path / "ids.txt"
    ids.write_text(content)
    home = tmp_path / "home"
    code = main(["--home", str(home), "bench", "--task", "digits", "--forget", f"ids:{ids}",
                 "--methods", "ga", "--json", str(tmp_path / "o.json"), "--no-progress"])
    assert code == 2 and message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids.txt"]


def test_the_console_script_is_installed():
    done = subprocess.run([sys.executable, "-m", "obliviate.cli", "methods", "--json"],
                          capture_output=True, text=True, check=True)
    assert "neggrad_plus" in done.stdout


def test_flags_stay_visible_in_a_100_column_terminal():
    # in 100 columns rich squeezed the one wrapping column, flags, to nothing (and the
    # tofu-mini table's numbers to "…"); now the flags move to a caption over the warning
    # lines, and a table that still does not fit turns compact
    from rich.console import Console

    from obliviate.core.rows import render_table

    classifier = (["method", "UA", "RA", "TA", "TA(class)", "MIA-eff", "Avg.Gap", "time(s)", "flags"],
                  [["neggrad_plus", "98.7±1.2", "98.4±0.7", "95.7±1.1", "0.9±1.6", "99.7±0.4", "1.33±0.25",
                    "0.10±0.03", "lost_test_accuracy (seed 0)"]])
    language = (["method", "log10 FQ", "MU", "forget ROUGE", "forget prob", "PrivLeak", "Leak@1", "Leak@5",
                 "MinK AUC", "ES", "relearn prob", "time(s)", "flags"],
                [["grad_diff", "-2.33", "0.703", "0.437", "0.338", "-58.8", "0.087", "0.194", "0.717", "0.328",
                  "0.715", "1.6", "did_not_forget (seed 0)"]])

    def shown(table, width):
        console = Console(width=width, record=True, color_system=None)
        console.print(render_table(*table, "title", width=width))
        return console.export_text()

    for table in (classifier, language):
        narrow, wide = shown(table, 100), shown(table, 300)
        assert "flags: see the WARNING lines below" in narrow and "…" not in narrow
        assert all(cell in narrow for cell in table[1][0][:-1])  # every number whole
        assert table[1][0][-1] in wide and "WARNING lines" not in wide
    healthy = (classifier[0], [classifier[1][0][:-1] + [""]])
    assert "WARNING lines" not in shown(healthy, 100)  # nothing to point at
