"""The ``obliviate`` command: parsing and printing only; the work is library functions."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXAMPLE = "obliviate bench --task digits --forget class:3 --methods retrain,ft,ga,neggrad_plus,rl --seeds 0,1,2"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from obliviate.core.results import RunFailed

    try:
        _use_data_dir(args)
        return args.run(args)
    except ValueError as err:  # bad input: one line, nothing written
        print(f"obliviate: error: {err}", file=sys.stderr)
        return 2
    except RunFailed as err:  # the run itself failed (diverged)
        print(f"obliviate: failed: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("obliviate: interrupted (completed entries stay in the store; run again to resume)", file=sys.stderr)
        return 130


TASK_HELP = ("task (see `obliviate tasks`): built-in, or on a local copy with --data-dir "
             "(cifar10, cifar10/vgg16_bn, ...)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obliviate", description="Machine unlearning, measured against retraining.")
    parser.add_argument("--version", action="version", version=f"obliviate {_version()}")
    _home_option(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.add_parser = _with_home(sub.add_parser)  # --home is accepted after every subcommand too

    bench = sub.add_parser("bench", help="run methods × seeds on a built-in task against retraining",
                           description=f"Example: {EXAMPLE} --json out.json")
    bench.add_argument("--task", required=True, help=TASK_HELP)
    bench.add_argument("--forget", required=True,
                       help="forget spec of the task, e.g. class:K, random:FRAC, ids:PATH (each task's specs: "
                            "`obliviate tasks`)")
    bench.add_argument("--methods", required=True, help="comma-separated method names (see `obliviate methods`)")
    bench.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    bench.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE",
                       help="override a hyperparameter, e.g. --set ga.lr=1e-4 (repeatable)")
    bench.add_argument("--hparams", metavar="FILE", help='JSON file {"method": {"key": value}} of hyperparameters')
    bench.add_argument("--json", metavar="FILE", help="write the result rows to FILE (JSON)")
    bench.add_argument("--no-progress", action="store_true", help="do not show progress bars")
    _executor_options(bench)
    _device_option(bench)
    _data_dir_option(bench)
    bench.set_defaults(run=_bench)

    ev = sub.add_parser("eval", help="rigorous evaluation: N unlearned vs N retrained models per method",
                        description="Example: obliviate eval --task digits --forget class:3 --methods "
                                    "retrain,ft,rl,salun,scrub,ssd --suite full --json out.json;  "
                                    "obliviate eval --task tofu-mini --forget forget05 --methods retrain,npo "
                                    "--suite full --models 8")
    ev.add_argument("--task", required=True, help=TASK_HELP)
    ev.add_argument("--forget", required=True, help="forget spec of the task (see `obliviate tasks`)")
    ev.add_argument("--methods", required=True, help="comma-separated method names (retrain = the metric's floor)")
    ev.add_argument("--suite", default="full", help="challenge, privacy, residual, full (default) or robust (attacks on forgotten knowledge; LM track)")
    ev.add_argument("--models", type=int, default=16, help="models per side, N (default 16)")
    ev.add_argument("--originals", type=int, default=1, help="K independently trained originals the N unlearned "
                    "models start from in turn (default 1; K > 1 gives a deterministic method the training "
                    "randomness the retrained side has)")
    ev.add_argument("--set", action="append", default=[], metavar="METHOD.KEY=VALUE", help="override a hyperparameter")
    ev.add_argument("--hparams", metavar="FILE", help='JSON file {"method": {"key": value}} (e.g. from tune)')
    ev.add_argument("--json", metavar="FILE", help="write the result rows to FILE (JSON)")
    _executor_options(ev)
    _device_option(ev)
    _data_dir_option(ev)
    ev.set_defaults(run=_eval)

    tune = sub.add_parser("tune", help="search a method's hyperparameters on the validation split (Optuna)",
                          description="Example: obliviate tune --task digits --forget class:3 --method salun "
                                      "--budget 20 --out hp.json; then bench/eval --hparams hp.json")
    tune.add_argument("--task", required=True)
    tune.add_argument("--forget", required=True)
    tune.add_argument("--method", required=True)
    tune.add_argument("--budget", type=int, default=20, help="number of trials (default 20)")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--out", required=True, help="hyperparameters file to write (JSON)")
    tune.add_argument("--parallel-trials", type=int, default=1, help="trials proposed at a time, evaluated in "
                      "parallel with --workers / --backend (the result depends on this, not on the backend)")
    _executor_options(tune)
    _device_option(tune)
    _data_dir_option(tune)
    tune.set_defaults(run=_tune)

    run = sub.add_parser("unlearn", help="unlearn a local Hugging Face causal LM or Stable Diffusion pipeline",
                         description="Examples: obliviate unlearn --model ./my-model --forget forget.jsonl "
                                     "--retain retain.jsonl --method npo --out ./my-model-unlearned;  "
                                     "obliviate unlearn --model ./sd-pipeline --concept 'van gogh' --forget "
                                     "prompts.txt --retain keep.txt --method esd --out ./sd-erased")
    run.add_argument("--model", required=True, help="local model directory: a causal LM (config, weights, "
                     "tokenizer) or a diffusers pipeline (model_index.json)")
    run.add_argument("--forget", required=True, help='LM: JSONL (or a JSON array) of {"question", "answer"} or {"text"} '
                     "to forget, or a .txt raw text (MUSE's raw/forget.txt); "
                     "pipeline: text file of prompts that contain --concept, one per line")
    run.add_argument("--retain", help="LM: data to keep, in the same formats (needed by most methods); "
                     "pipeline: text file of prompts to keep")
    run.add_argument("--concept", help="pipeline only: the concept to erase, as it appears in the prompts")
    run.add_argument("--anchor", help="pipeline only: what the concept becomes (default: nothing)")
    run.add_argument("--method", required=True, help="a method of the model's track (see `obliviate methods`)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="hyperparameter, e.g. --set epochs=5 --set lora=true (repeatable)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", required=True, help="directory to write the unlearned model to (must not exist)")
    _device_option(run)
    run.add_argument("--keep-diverged", action="store_true",
                     help="write the model even if the run diverged (the command still exits 1)")
    run.add_argument("--precision", choices=("fp32", "bf16", "fp16"),
                     help="pipeline only: autocast precision of the training loop (default fp32); for a language "
                          "model use --set torch_dtype=bfloat16")
    run.add_argument("--max-length", type=int, help="LM only: tokens per example (default: the model's context, at "
                     "most 2048); longer prompts are cut from the left, long texts split into chunks")
    run.add_argument("--chat-template", choices=("auto", "none"), help="LM only: auto (default) uses the "
                     "tokenizer's chat template when it has one; none: 'Question: ...\\nAnswer: ...'")
    run.add_argument("--system-prompt", help='LM only, with a chat template (default "You are a helpful assistant.", '
                     'as OpenUnlearning; "" for none)')
    run.set_defaults(run=_unlearn)

    evl = sub.add_parser("evaluate", help="score a local model on a benchmark from your local copy (no unlearning)",
                         description="Example: obliviate evaluate --model DIR --benchmark tofu --forget forget10 "
                                     "--data-dir TOFU --retain-model RETAIN_DIR --json out.json")
    evl.add_argument("--model", required=True, help="local model directory (LM), a diffusers pipeline directory, "
                     "or a classifier's .safetensors weights")
    evl.add_argument("--benchmark", "--task", dest="benchmark", required=True, help="language models: tofu, muse, wmdp, mmlu; pipelines: "
                     "unlearncanvas, i2p or FILE.csv (your prompts); classifiers: a task, e.g. cifar10 or cifar10/vgg16_bn "
                     "(the architecture of the weights)")
    evl.add_argument("--forget", required=True, help="the benchmark's split, e.g. forget10; pipelines: AXIS:LABEL "
                     "of a judge, e.g. style:Van_Gogh")
    evl.add_argument("--arch", help="classifiers: the architecture of the weights (resnet18, vgg16_bn), the same "
                     "as --task cifar10/ARCH")
    evl.add_argument("--judge", action="append", default=[], metavar="AXIS=DIR",
                     help="pipelines: a local Hugging Face image classifier judging AXIS (repeat per axis)")
    evl.add_argument("--retain-model", metavar="PATH", help="the retain-only model (LM: forget quality, PrivLeak; "
                     "classifier: the gaps to the retrained model)")
    evl.add_argument("--retain-logs", metavar="FILE", help="instead of --retain-model: its logs (from --save-logs, "
                     "or OpenUnlearning's TOFU_EVAL.json of a retain model)")
    evl.add_argument("--save-logs", metavar="FILE", help="write this model's logs for later --retain-logs")
    evl.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="loading and text format: torch_dtype, attn_implementation, max_length, chat_template, "
                          "system_prompt")
    evl.add_argument("--json", metavar="FILE", help="write the rows to FILE (JSON)")
    _data_dir_option(evl)
    evl.set_defaults(run=_evaluate)

    rep = sub.add_parser("report", help="write a self-contained HTML report of bench or eval results",
                         description="Example: obliviate report out.json --out report.html; or from the store: "
                                     "obliviate report --task digits --forget class:3 --out report.html")
    rep.add_argument("results", nargs="?", help="JSON rows written by bench or eval --json")
    rep.add_argument("--task", help="without a results file: the latest run of this task in the store")
    rep.add_argument("--forget", help="with --task: the forget spec")
    rep.add_argument("--out", required=True, help="HTML file to write")
    rep.add_argument("--title", default="obliviate report")
    rep.set_defaults(run=_report)

    methods = sub.add_parser("methods", help="list unlearning methods, their data needs, hyperparameters and papers")
    methods.add_argument("--track", help="only this track (see `obliviate tasks` for the tracks)")
    methods.add_argument("--json", action="store_true", help="print JSON instead of a table")
    methods.set_defaults(run=_methods)

    tasks = sub.add_parser("tasks", help="list built-in tasks")
    tasks.add_argument("--json", action="store_true", help="print JSON instead of a table")
    tasks.set_defaults(run=_tasks)

    models = sub.add_parser("models", help="deployable models for deletion requests: register, list")
    msub = models.add_subparsers(dest="models_command", metavar="action", required=True)
    msub.add_parser = _with_home(msub.add_parser)
    reg = msub.add_parser("register", help="record a model and its training manifest as version 1",
                          description="Examples: obliviate models register digits-prod --task digits;  "
                                      "obliviate models register digits-exact --task digits --kind sisa "
                                      "--set shards=8 --set slices=4;  obliviate models register mine --task "
                                      "cifar10 --data-dir DIR --model weights.safetensors")
    reg.add_argument("name")
    reg.add_argument("--task", help=TASK_HELP + "; example i of its training split has id i")
    reg.add_argument("--data", metavar="DIR", help="your own images instead of a task: DIR/train/<class>/*.png|jpg "
                     "(the imagefolder task; example i of the sorted training files has id i)")
    reg.add_argument("--kind", default="model", help="model (default): one model, unlearned by any method; "
                     "sisa: a SISA ensemble, unlearned exactly")
    reg.add_argument("--model", metavar="FILE", help="your trained weights (.safetensors) of the task's architecture "
                     "(default: train it now with the task's recipe)")
    reg.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="an option of the kind, e.g. --set shards=8 --set slices=4 --set aggregate=vote (sisa)")
    reg.add_argument("--seed", type=int, default=0)
    _db_option(reg)
    _data_dir_option(reg)
    reg.set_defaults(run=_models_register)
    mlist = msub.add_parser("list", help="registered models and their deployed versions")
    _db_option(mlist)
    mlist.set_defaults(run=_models_list)

    req = sub.add_parser("requests", help="deletion requests: submit, process into new model versions with "
                         "evidence, verify, show")
    rsub = req.add_subparsers(dest="requests_command", metavar="action", required=True)
    rsub.add_parser = _with_home(rsub.add_parser)
    sbm = rsub.add_parser("submit", help="record a request to delete training examples (by id)",
                          description="Example: obliviate requests submit digits-prod --ids ids.txt --reason "
                                      "'GDPR art. 17, ticket 4711'")
    sbm.add_argument("name")
    sbm.add_argument("--ids", required=True, metavar="FILE", help="the ids to delete, one per line")
    sbm.add_argument("--reason", default="", help="why (recorded with the request)")
    _db_option(sbm)
    sbm.set_defaults(run=_requests_submit)
    prc = rsub.add_parser("process", help="unlearn the pending requests, verify, promote the next version",
                          description="Example: obliviate requests process digits-prod --method salun --max-batch 10")
    prc.add_argument("name")
    prc.add_argument("--method", help="unlearning method (default: the kind's, sisa for a SISA model, salun for "
                     "one model)")
    prc.add_argument("--max-batch", type=int, help="at most this many requests per new version (default: all)")
    prc.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a hyperparameter of the method")
    prc.add_argument("--seed", type=int, default=0)
    prc.add_argument("--retrain-budget", type=float, default=120.0, metavar="SECONDS",
                     help="verify against a model retrained without the ids when training the registered model took "
                          "at most this long (default 120; 0: never)")
    _db_option(prc)
    _data_dir_option(prc)
    prc.set_defaults(run=_requests_process)
    ver = rsub.add_parser("verify", help="check a model's evidence chain, its versions and the deployed file")
    ver.add_argument("name")
    _db_option(ver)
    _data_dir_option(ver)
    ver.set_defaults(run=_requests_verify)
    shw = rsub.add_parser("show", help="a request and its evidence")
    shw.add_argument("id", type=int)
    shw.add_argument("--html", metavar="FILE", help="also write the evidence as a self-contained HTML page")
    shw.add_argument("--json", metavar="FILE", help="also write it as JSON")
    _db_option(shw)
    shw.set_defaults(run=_requests_show)
    rls = rsub.add_parser("list", help="a model's requests")
    rls.add_argument("name")
    rls.add_argument("--status", choices=("pending", "processing", "done", "failed"))
    _db_option(rls)
    rls.set_defaults(run=_requests_list)
    return parser


def _db_option(parser) -> None:
    parser.add_argument("--db", metavar="URL", help="the ledger: sqlite:///PATH or postgresql://... (default: "
                        "$OBLIVIATE_DB, else ledger.sqlite in the data directory)")


def _ledger_home(args) -> tuple[str, Path]:
    from obliviate.core.store import Store
    from obliviate.requests.ledger import default_url

    home = Store(args.home).root
    return args.db or default_url(home), home


def _models_register(args) -> int:
    from obliviate.requests import workflow

    url, home = _ledger_home(args)
    if bool(args.task) == bool(args.data):
        raise ValueError("give either --task or --data (your own images)")
    if args.data and not os.path.isdir(args.data):
        raise ValueError(f"--data {args.data!r} is not a directory")
    spec = {"kind": args.kind} | ({"task": args.task} if args.task else {}) | _key_values(args.set)
    data_dir = args.data or getattr(args, "data_dir", None)
    if data_dir:  # without --task, a track's deployment reads the user's own images there
        spec["data_dir"] = os.path.abspath(data_dir)
    workflow.register(url, home, args.name, spec, args.model, args.seed, _console().print)
    return 0


def _models_list(args) -> int:
    from rich.table import Table

    from obliviate.requests.ledger import Ledger

    url, _ = _ledger_home(args)
    ledger = Ledger(url)
    table = Table("name", "kind", "task", "version", "examples", "weights (SHA-256)")
    for name in ledger.names():
        row = ledger.model(name)
        table.add_row(name, row["spec"].get("kind", "model"), row["spec"]["task"], str(row["version"]),
                      str(row["examples"]), row["sha256"][:16])
    _console().print(table)
    return 0


def _read_ids(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise ValueError(f"cannot read --ids {path}: {err.strerror}") from None
    ids = [line.strip() for line in lines if line.strip()]
    if not ids:
        raise ValueError(f"--ids {path} lists no id")
    return ids


def _requests_submit(args) -> int:
    from obliviate.requests import workflow

    url, _ = _ledger_home(args)
    request, new = workflow.submit(url, args.name, _read_ids(args.ids), args.reason)
    _console().print(f"request {request.id} on {args.name}: {len(request.id_hashes)} id(s), {request.status}"
                     + ("" if new else " (the same ids were already requested)"))
    return 0


def _requests_process(args) -> int:
    from obliviate.requests import workflow

    url, home = _ledger_home(args)
    workflow.process(url, home, args.name, args.method, args.max_batch, _key_values(args.set), args.seed,
                     args.retrain_budget, _console().print)
    return 0


def _requests_verify(args) -> int:
    from obliviate.requests import workflow

    url, home = _ledger_home(args)
    problems = workflow.verify(url, home, args.name)
    console = _console()
    for problem in problems:
        console.print(f"[bold red]PROBLEM[/] {problem}")
    if problems:
        return 1
    console.print(f"{args.name}: evidence chain, versions and deployed weights verified")
    return 0


def _requests_show(args) -> int:
    from obliviate.requests import workflow

    for path in (args.html, args.json):
        if path:
            _check_writable(path)
    url, _ = _ledger_home(args)
    shown = workflow.show(url, args.id)
    console = _console()
    console.print_json(json.dumps(shown, default=str))
    from obliviate.core.store import write_text_atomic

    if args.json:
        write_text_atomic(args.json, json.dumps(shown, indent=1, default=str) + "\n")
    if args.html:
        from obliviate.report import evidence_report

        write_text_atomic(args.html, evidence_report(shown))
        console.print(f"written to {args.html}")
    return 0


def _requests_list(args) -> int:
    from rich.table import Table

    from obliviate.requests.ledger import Ledger

    url, _ = _ledger_home(args)
    ledger = Ledger(url)
    ledger.model(args.name)
    table = Table("id", "status", "ids", "reason", "evidence", "error")
    for r in ledger.requests_of(args.name, args.status):
        table.add_row(str(r.id), r.status, str(len(r.id_hashes)), r.reason, str(r.evidence_id or "—"), r.error or "")
    _console().print(table)
    return 0


def _bench(args) -> int:
    from obliviate import bench
    from obliviate.core.store import Store

    hparams, tuned = _hparams(args.hparams, args.set)
    seeds = _ints(args.seeds, "--seeds")
    plan = bench.plan(args.task, args.forget, args.methods.split(","), seeds, hparams, device=_device(args))
    plan.tuned = tuned
    if args.json:
        _check_writable(args.json)
    console = _console()
    if getattr(plan, "note", ""):
        console.print(plan.note)
    store = Store(args.home)
    with _executor(args) as executor:
        rows = bench.run(plan, store, show_progress=not args.no_progress, console=console, executor=executor)
    if not _is_main_process():
        return 0
    units = "" if "model_utility" in rows[0]["metrics"] else " · percent, gaps in points"
    title = f"{plan.task.name} · forget {plan.forget} · {len(plan.seeds)} seed(s) · mean ± std{units}"
    console.print(bench.render_table(rows, title, width=console.width))
    console.print(bench.legend(rows))
    return _warn_and_save(console, rows, args.json)


def _warn_and_save(console, rows: list[dict], json_path: str | None) -> int:
    """Below a table: one warning line per flag, then the rows as JSON where asked."""
    from obliviate import bench

    for line in bench.warnings_text(rows):
        console.print(f"[bold red]WARNING[/] {line}")
    if json_path:
        bench.save_json(rows, json_path)
        console.print(f"rows written to {json_path}")
    return 0


def _eval(args) -> int:
    import warnings

    from obliviate import bench, suite
    from obliviate.core.store import Store
    from obliviate.core.track import track_for_task

    hparams, tuned = _hparams(args.hparams, args.set)
    plan = suite.plan_eval(args.task, args.forget, args.methods.split(","), args.suite, args.models, hparams,
                           device=_device(args), originals=args.originals)
    plan.tuned = tuned
    if args.json:
        _check_writable(args.json)
    console = _console()
    if getattr(plan, "note", ""):
        console.print(plan.note)
    with console.status("") as status, warnings.catch_warnings(), _executor(args) as executor:
        warnings.simplefilter("ignore")  # flags are shown in the table
        rows = suite.run_eval(plan, Store(args.home), progress=lambda text: status.update(text), executor=executor)
    if not _is_main_process():
        return 0
    console.print(bench.render_table(rows, f"{plan.task.name} · forget {plan.forget} · suite {plan.suite} · "
                                           f"N = {plan.n_models} models per side"
                                           f"{f' from {plan.originals} originals' if plan.originals > 1 else ''} · percent", width=console.width))
    console.print("Against N retrained models. F: challenge forget quality (1 = indistinguishable); U-LiRA AUC / "
                  "acc: 50 = cannot tell unlearned from retrained. " + track_for_task(args.task).eval_legend)
    console.print("The retrain row is a second set of retrained models: the best score possible at this N.")
    return _warn_and_save(console, rows, args.json)


def _tune(args) -> int:
    from obliviate.core.store import Store
    from obliviate.tune import plan_tune, tune, write_hparams

    plan_tune(args.task, args.forget, args.method, args.budget, args.parallel_trials)  # before any training
    _check_writable(args.out)
    console = _console()
    with console.status("tuning") as status, _executor(args) as executor:
        content = tune(args.task, args.forget, args.method, args.budget, store=Store(args.home), seed=args.seed,
                       progress=lambda n, gap: status.update(f"trial {n}/{args.budget}: gap {gap:.2f}"),
                       device=_device(args), executor=executor, parallel_trials=args.parallel_trials)
    if not _is_main_process():
        return 0
    write_hparams(content, args.out)
    info = content["_tuned"][args.method]
    console.print(f"{args.method}: best distance to retraining on the validation split {info['best_gap']:.2f} "
                  f"(defaults {info['default_gap']:.2f}) with {content[args.method]}; written to {args.out}")
    sens = info["sensitivity"]
    if sens["top_trials"]:
        ranges = ", ".join(f"{k} {lo:.3g}..{hi:.3g}" for k, (lo, hi) in sens["top_ranges"].items())
        console.print(f"sensitivity: the best {sens['top_trials']} trials span {sens['top_gap_spread']:.2f} points "
                      f"of gap over {ranges}")
    return 0


def _unlearn(args) -> int:
    from obliviate.core.track import track_for_model

    out = Path(args.out).expanduser()
    if out.exists():
        raise ValueError(f"--out {out} already exists; choose a new directory")
    if not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: directory {out.parent} does not exist")
    hparams = _key_values(args.set)
    for key in ("max_length", "chat_template", "system_prompt"):  # the LM track's text format
        if getattr(args, key) is not None:
            hparams[key] = getattr(args, key)
    track = track_for_model(args.model)
    options = {"concept": args.concept, "anchor": args.anchor, "device": _device(args), "precision": args.precision,
               "keep_diverged": args.keep_diverged}
    console = _console()
    track.unlearn_files(args.model, args.forget, args.retain, args.method, args.seed, hparams, str(out), options,
                        console.print)
    return 0


def _key_values(items: list[str]) -> dict[str, str]:
    """``--set KEY=VALUE`` items as a dict (one-line error for anything else)."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _evaluate(args) -> int:
    from obliviate.core.rows import save_json
    from obliviate.core.track import track_for_model

    if args.json:
        _check_writable(args.json)
    if args.save_logs:
        _check_writable(args.save_logs)
    hparams = _key_values(args.set)
    console = _console()
    judges = {}
    for item in args.judge:
        axis, sep, path = item.partition("=")
        if not sep or not axis or not path:
            raise ValueError(f"--judge {item!r}: expected AXIS=DIR, e.g. style=./style-classifier")
        if axis in judges:
            raise ValueError(f"--judge {axis} given twice")
        judges[axis] = path
    options = {"retain_model": args.retain_model, "retain_logs": args.retain_logs, "save_logs": args.save_logs,
               "data_dir": args.data_dir, "hparams": hparams, "judges": judges, "arch": args.arch}
    track = track_for_model(args.model)
    track.check_evaluate_options(options)
    rows = track.evaluate_files(args.model, args.benchmark, args.forget, options, console.print)
    if not _is_main_process():
        return 0
    from rich.table import Table

    keys = [k for k in rows[0]["metrics"] if isinstance(rows[0]["metrics"][k], (int, float))]
    table = Table(title=f"{args.benchmark} · {args.forget}")
    table.add_column("metric")
    for row in rows:
        table.add_column(f"{row['role']}: {Path(row['model']).name}", justify="right")
    for key in keys:
        table.add_row(key, *(f"{row['metrics'].get(key, float('nan')):.4g}" for row in rows))
    console.print(table)
    if args.json:
        save_json(rows, args.json)
        console.print(f"rows written to {args.json}")
    return 0


def _report(args) -> int:
    from obliviate.core.store import Store
    from obliviate.report import write_report

    if args.results:
        try:
            rows = json.loads(Path(args.results).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read results {args.results}: {err}") from None
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and "method" in r for r in rows):
            raise ValueError(f"{args.results} does not hold bench or eval rows (a JSON list of rows with 'method')")
    elif args.task:
        rows = Store(args.home).latest_runs(args.task, args.forget)
        if not rows:
            raise ValueError(f"no runs of task {args.task!r}{' / ' + args.forget if args.forget else ''} in the store")
    else:
        raise ValueError("give a results JSON file, or --task (and --forget) to report from the store")
    _check_writable(args.out)
    write_report(rows, args.out, args.title)
    _console().print(f"report written to {args.out}")
    return 0


def _methods(args) -> int:
    from obliviate.api import methods

    infos = methods(args.track)
    if args.json:
        print(json.dumps(infos, indent=1, default=str))
        return 0
    console = _console()
    for m in infos:  # one block per method: readable at any terminal width
        needs = ", ".join(m["needs"]) or "only the forget data"
        console.print(f"[bold]{m['name']}[/] [dim]({m['track']}; needs {needs})[/]", highlight=False)
        console.print(f"    {m['idea']}", highlight=False)
        console.print(f"    [dim]paper:[/] {m['paper']}", highlight=False)
        hp = "  ".join(f"{k}={v}" for k, v in m["hparams"].items())
        console.print(f"    [dim]hyperparameters:[/] {hp}", highlight=False)
    return 0


def _tasks(args) -> int:
    from obliviate.api import tasks

    infos = tasks()
    if args.json:
        print(json.dumps(infos, indent=1))
        return 0
    from rich.table import Table

    table = Table(title="obliviate tasks")
    for col in ("task", "track", "classes", "description", "forget specs"):
        table.add_column(col)
    for t in infos:
        table.add_row(t["name"], t["track"], str(t.get("num_classes", "-")), t["description"], t["forget_specs"])
    _console().print(table)
    return 0


def _home_option(parser, default) -> None:
    parser.add_argument("--home", default=default, help="data directory for cached models and results "
                        "(default: $OBLIVIATE_HOME, else the user cache directory)")


def _with_home(add_parser):
    """``sub.add_parser`` that gives every subcommand ``--home``; left out there, the
    value given before the subcommand (or none) stands."""
    def add(*args, **kwargs):
        parser = add_parser(*args, **kwargs)
        _home_option(parser, argparse.SUPPRESS)
        return parser
    return add


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("obliviate")
    except PackageNotFoundError:
        return "unknown"


def _data_dir_option(parser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="where tasks on local copies of published datasets "
                        "(cifar10, cifar100, imagefolder, ...) find them, in their official layout "
                        "(default: $OBLIVIATE_DATA)")


def _use_data_dir(args) -> None:
    """``--data-dir`` for every task of this process (tasks read ``$OBLIVIATE_DATA``)."""
    import os

    from obliviate.core.local_data import ENV

    given = getattr(args, "data_dir", None)
    if given is not None:
        if not os.path.isdir(given):
            raise ValueError(f"--data-dir {given!r} is not a directory")
        os.environ[ENV] = os.path.abspath(given)


def _executor_options(parser) -> None:
    parser.add_argument("--workers", type=int, default=1, help="run the independent trainings in N local processes "
                        "(default 1: one after the other)")
    parser.add_argument("--backend", default=None, choices=("serial", "processes", "ray"),
                        help="where the independent trainings run (default: serial, or processes with --workers)")
    parser.add_argument("--address", help="with --backend ray: the Ray cluster's address (default: a local instance)")
    parser.add_argument("--threads", type=int, help="torch threads per training (default: all cores serially, cores / "
                        "workers in parallel); the same --threads gives the same numbers on every backend")


def _executor(args):
    from obliviate.core.executor import make_executor

    return make_executor(args.backend or ("processes" if args.workers > 1 else "serial"), args.workers, args.address,
                         args.threads)


def _device_option(parser) -> None:
    parser.add_argument("--device", default="auto", help="where models train and are scored: auto (CUDA when "
                        "available), cpu, cuda, cuda:N or mps (default auto)")


def _device(args) -> str:
    from obliviate.core.devices import resolve_device

    return str(resolve_device(args.device))


def _is_main_process() -> bool:
    from obliviate.core.devices import is_main_process

    return is_main_process()


def _console():
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # keep table rows on one line in logs and files
        console = Console(width=max(console.width, 170))
    return console


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"{flag} takes comma-separated integers, got {text!r}") from None


def _hparams(path: str | None, overrides: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, dict]]:
    """The hyperparameters of a --hparams file and --set overrides, and the tuning
    provenance that `obliviate tune` wrote into the file (``_tuned``, per method)."""
    out: dict[str, dict[str, Any]] = {}
    tuned: dict[str, dict] = {}
    if path:
        try:
            loaded = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read hyperparameters file {path}: {err}") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, dict) for v in loaded.values()):
            raise ValueError(f'{path} must hold {{"method": {{"key": value}}}}')
        out = {m: dict(hp) for m, hp in loaded.items() if m != "_tuned"}
        tuned = {m: info for m, info in loaded.get("_tuned", {}).items() if m in out}
    for item in overrides:
        name, eq, value = item.partition("=")
        method, dot, key = name.partition(".")
        if not eq or not dot or not method or not key:
            raise ValueError(f"--set takes METHOD.KEY=VALUE, got {item!r}")
        out.setdefault(method, {})[key] = value
        if method in tuned:  # a value changed by hand is no longer the tuned one
            tuned[method] = tuned[method] | {"overridden": sorted({*tuned[method].get("overridden", []), key})}
    return out, tuned


def _check_writable(path: str) -> None:
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise ValueError(f"cannot write {path}: directory {parent} does not exist")


if __name__ == "__main__":
    raise SystemExit(main())
