"""``obliviate report``: one self-contained HTML file from bench or eval rows.

Tables as HTML, plots as inline SVG (matplotlib), no script, stylesheet or image
fetched from anywhere: the file can be mailed or attached to a deletion request.
Plots: the forgetting-vs-utility trade-off per method with the retrained model
marked (each track's own pair of metrics), wall time against the distance to
retraining, the challenge score per method, and per-example confidence histograms
(original / unlearned / retrained) on the forget set.
"""

from __future__ import annotations

import html
import io
import statistics
from typing import Any

from obliviate.core.track import track_for_rows

PLOT_IDS = ("tradeoff", "time-vs-gap", "challenge", "confidence")


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: inline SVG


def _figure(width: float = 5.5, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text (selectable, small)
    return plt.subplots(figsize=(width, height))


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


def _by_method(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["method"], []).append(r)
    return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _points(ax, rows: list[dict], x_of, y_of, skip: tuple[str, ...] = (), x_std=None, y_std=None) -> None:
    """One point per method at the mean (error bars: std over seeds, or over the N
    models of an eval row via ``x_std``/``y_std``); retrain as a star. A method keeps
    its colour in every plot of the report."""
    for i, (method, group) in enumerate(_by_method(rows).items()):
        if method in skip:
            continue
        x, y = _mean_std([x_of(r) for r in group]), _mean_std([y_of(r) for r in group])
        if len(group) == 1:
            x = (x[0], (x_std(group[0]) if x_std else None) or 0.0)
            y = (y[0], (y_std(group[0]) if y_std else None) or 0.0)
        star = method == "retrain"
        ax.errorbar(x[0], y[0], xerr=x[1], yerr=y[1], marker="*" if star else "o", markersize=15 if star else 6,
                    color="black" if star else f"C{i % 10}", zorder=3 if star else 2, linestyle="none", capsize=2)
        ax.annotate(method, (x[0], y[0]), textcoords="offset points", xytext=(5, 4), fontsize=8)


def _finish(fig, ax, xlabel: str, ylabel: str, title: str) -> str:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    try:
        return _svg(fig)
    finally:
        _close(fig)


def tradeoff_axes(rows: list[dict]) -> tuple[str, str, str, str] | None:
    """The forgetting / utility pair of the rows' track (the first of the track's
    ``tradeoff_axes`` present in the rows), or None when the rows have none."""
    metrics = rows[0]["metrics"]
    axes = track_for_rows(rows).tradeoff_axes
    return next((a for a in axes if a[0] in metrics and a[1] in metrics), None)


def tradeoff_plot(rows: list[dict]) -> str:
    """Forgetting (x) against utility (y), mean ± std over seeds per method; the
    retrained model is the target (star). Axes from the track (:func:`tradeoff_axes`)."""
    x_key, y_key, x_label, y_label = tradeoff_axes(rows)
    fig, ax = _figure()
    _points(ax, rows, lambda r: r["metrics"][x_key], lambda r: r["metrics"][y_key],
            x_std=lambda r: r["metrics"].get(f"{x_key}_std"), y_std=lambda r: r["metrics"].get(f"{y_key}_std"))
    return _finish(fig, ax, x_label, y_label, "Forgetting vs utility (★ = retrained, the target)")


def time_gap_plot(rows: list[dict]) -> str:
    """Wall time of the unlearning call (log scale) against the track's distance to
    retraining (Avg. Gap, −log10 forget quality, ...)."""
    track = track_for_rows(rows)
    fig, ax = _figure()
    _points(ax, rows, lambda r: max(r["metrics"]["seconds"], 1e-3), lambda r: track.distance_to_retrain(r)[0],
            skip=("original",))
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels on a log axis overlap
    return _finish(fig, ax, "seconds (log scale)", track.distance_to_retrain(rows[0])[1],
                   "Cost vs closeness to retraining")


def challenge_plot(rows: list[dict]) -> str:
    """Forget quality F and the final challenge score per method (eval rows)."""
    fig, ax = _figure()
    methods = [r["method"] for r in rows]
    f = [r["metrics"]["forget_quality"] for r in rows]
    xs = range(len(methods))
    if all("challenge_score" in r["metrics"] for r in rows):
        ax.bar([x - 0.2 for x in xs], f, width=0.4, label="forget quality F")
        ax.bar([x + 0.2 for x in xs], [r["metrics"]["challenge_score"] for r in rows], width=0.4,
               label="score = F·RA/RA_r·TA/TA_r")
    else:  # language models: F only (the final score is defined from classifier accuracies)
        ax.bar(list(xs), f, width=0.5, label="forget quality F")
    ax.set_xticks(list(xs), methods, rotation=20)
    ax.legend(fontsize=8)
    return _finish(fig, ax, "", "higher is better (retrain row = best possible at this N)",
                   f"NeurIPS-2023 challenge score, N = {rows[0].get('n_models', '?')} models per side")


def confidence_plot(rows: list[dict]) -> str:
    """Histograms of per-example logit-scaled confidence on the forget set (median over
    the N models) for the original, each method, and the retrained models."""
    with_conf = [r for r in rows if "forget_confidence" in r]
    n = len(with_conf)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n, 1, figsize=(5.5, 1.6 * n + 0.6), sharex=True, squeeze=False)
    everything = [c for r in with_conf for k in ("forget_confidence", "original_confidence", "reference_confidence")
                  for c in r[k]]
    bins = _bins(min(everything), max(everything))
    for ax, row in zip(axes[:, 0], with_conf):
        ax.hist(row["original_confidence"], bins=bins, alpha=0.35, label="original", color="tab:red")
        ax.hist(row["reference_confidence"], bins=bins, alpha=0.35, label="retrained", color="tab:green")
        ax.hist(row["forget_confidence"], bins=bins, histtype="step", linewidth=1.5, label=row["method"],
                color="black")
        ax.set_ylabel(row["method"], fontsize=8)
        ax.legend(fontsize=7, loc="upper left")
    kind = with_conf[0].get("confidence_kind", "logit-scaled confidence: log p_y − log(1 − p_y)")
    axes[-1, 0].set_xlabel(f"forget set, per example: {kind}")
    axes[0, 0].set_title("Per-example confidence: unlearned (line) vs original and retrained")
    try:
        return _svg(fig)
    finally:
        plt.close(fig)


def _bins(lo: float, hi: float, n: int = 40) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    return [lo + (hi - lo) * i / n for i in range(n + 1)]


def _table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}
figure{display:inline-block;margin:1em 1em 1em 0;vertical-align:top}figcaption{font-size:12px;color:#555;max-width:520px}
.flag{color:#b00;font-weight:bold}code{background:#f3f3f3;padding:0 3px}"""


def build_report(rows: list[dict], title: str = "obliviate report") -> str:
    """The HTML text for bench rows (any track) or eval rows."""
    if not rows:
        raise ValueError("no result rows to report")
    is_eval = "suite" in rows[0]
    from obliviate.bench import table_cells

    header, body = table_cells(rows)
    task, forget = rows[0]["task"], rows[0]["forget"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1><p>Task <code>{html.escape(task)}</code>, forget "
             f"<code>{html.escape(forget)}</code>; {len(rows)} result rows. Every number is measured against "
             f"the model retrained without the forget set.</p>",
             "<h2>Results</h2>", _table(header, body)]
    where = lambda r: f"seed {r['seed']}" if "seed" in r else f"in some of its {r['n_models']} models"  # noqa: E731
    flags = [f"{r['method']} ({where(r)}): {', '.join(r['flags'])}" for r in rows if r.get("flags")]
    if flags:
        parts.append("<p class='flag'>Warnings: " + html.escape("; ".join(flags)) + "</p>")
    parts.append(_provenance(rows))
    parts.append("<h2>Plots</h2>")
    for plot_id, caption, svg in _plots(rows, is_eval):
        parts.append(f"<figure id='{plot_id}'>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _plots(rows: list[dict], is_eval: bool) -> list[tuple[str, str, str]]:
    plots = []
    metrics = rows[0]["metrics"]
    axes = tradeoff_axes(rows)
    if axes:
        plots.append(("tradeoff", f"Forgetting ({axes[0]}) vs utility ({axes[1]}) per method, mean ± std; the "
                      "star is the retrained model, the target.", tradeoff_plot(rows)))
    if not is_eval and track_for_rows(rows).distance_to_retrain(rows[0]) is not None:
        plots.append(("time-vs-gap", "Wall time of the unlearning call against the distance to retraining.",
                      time_gap_plot(rows)))
    if is_eval and "forget_quality" in metrics:
        plots.append(("challenge", "NeurIPS-2023 challenge forget quality and score per method.",
                      challenge_plot(rows)))
    if is_eval and any("forget_confidence" in r for r in rows):
        plots.append(("confidence", "Per-example confidence on the forget set: a method that truly forgot "
                      "matches the green (retrained) histogram, not the red (original).", confidence_plot(rows)))
    return plots


def _provenance(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        tuned = r.get("tuned")
        if tuned and r["method"] not in {x.split(":")[0] for x in lines}:
            lines.append(f"{r['method']}: hyperparameters tuned on the {tuned['measured_on']} of "
                         f"{tuned['task']} {tuned['forget']} ({tuned['budget']} trials, Avg.Gap "
                         f"{tuned['default_gap']:.2f} → {tuned['best_gap']:.2f})"
                         + (f"; then set by hand: {', '.join(tuned['overridden'])}" if tuned.get("overridden") else ""))
    if not lines:
        return "<p>Hyperparameters: each method's defaults or the values given (none tuned by obliviate tune).</p>"
    return "<h2>Tuning</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"


def write_report(rows: list[dict[str, Any]], path: str, title: str = "obliviate report") -> None:
    from obliviate.core.store import write_text_atomic

    write_text_atomic(path, build_report(rows, title))


def evidence_report(shown: dict[str, Any]) -> str:
    """The HTML text of a deletion request and its evidence record (``obliviate requests
    show ID --html``): the request, the model versions before and after with their
    weight hashes, the method, the scores before / after / retrained, the flags and the
    record's place in the hash chain."""
    request = shown["request"]
    title = f"Deletion request {request['id']} on {request['name']}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             _table(["field", "value"], [
                 ["status", request["status"]], ["ids (SHA-256)", f"{len(request['id_hashes'])} id(s)"],
                 ["reason", request["reason"] or "—"], ["error", request["error"] or "—"]])]
    evidence = shown.get("evidence")
    if evidence is None:
        parts.append("<p>Not processed yet: no evidence.</p></body></html>")
        return "\n".join(parts)
    record = evidence["record"]
    parts += ["<h2>Evidence</h2>", _table(["field", "value"], [
        ["record", f"{evidence['id']} (link {evidence['seq']} of {request['name']}'s chain)"],
        ["hash", evidence["hash"]], ["previous hash", evidence["prev_hash"]],
        ["method", f"{record['method']} {record['hparams']}"], ["kind, task", f"{record['kind']}, {record['task']}"],
        ["version before", f"{record['before']['version']} (weights {record['before']['sha256']})"],
        ["version after", f"{record['after']['version']} (weights {record['after']['sha256']})"],
        ["training manifest after", f"{record['examples_after']} ids, SHA-256 {record['manifest_sha256_after']}"],
        ["deleted ids", f"{len(record['deleted_ids'])} in this batch (requests {record['requests']})"],
        ["unlearning time", f"{record['unlearning_seconds']:.2f} s"],
        ["code", ", ".join(f"{k} {v}" for k, v in record["code"].items())]])]
    verification = record["verification"]
    columns = [c for c in ("before", "after", "retrained") if c in verification]
    keys = sorted({k for c in columns for k in verification[c] if k != "seconds"})
    parts += ["<h2>Verification</h2>", _table(["score (percent)"] + columns, [
        [k] + [f"{verification[c][k]:.2f}" if k in verification[c] else "—" for c in columns] for k in keys])]
    extra = {k: v for k, v in verification.items() if k not in columns + ["gaps"]}
    if "gaps" in verification:
        extra["gaps to the retrained model"] = {k: round(v, 3) for k, v in verification["gaps"].items()}
    parts.append(_table(["check", "result"], [[k, str(v)] for k, v in extra.items()]))
    if record["flags"]:
        parts.append("<p class='flag'>Flags: " + html.escape(", ".join(record["flags"])) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
