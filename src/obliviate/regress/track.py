"""The regression track: a plug-in behind the track interface (bench on bundled
regression tasks; methods registered under track "regress")."""

from __future__ import annotations

from typing import Any, ClassVar

from obliviate.core.track import Track


class RegressionTrack(Track):
    name: ClassVar[str] = "regress"
    description: ClassVar[str] = "deep regression unlearning (Tarun et al., ICML 2023): RMSE, R² and a loss MIA"
    methods_module: ClassVar[str] = "obliviate.regress.methods"

    def task_names(self) -> tuple[str, ...]:
        from obliviate.regress.tasks import TASKS

        return tuple(TASKS)

    def tasks(self) -> list[dict[str, Any]]:
        from obliviate.regress.tasks import TASKS

        return [{"name": t.name, "track": self.name, "description": t.description, "recipe": dict(t.recipe),
                 "forget_specs": "random:FRAC, range:LO:HI, ids:PATH"} for t in TASKS.values()]

    def plan_bench(self, task, forget, methods, seeds, hparams, device=None):
        if device not in (None, "cpu"):
            raise ValueError("the regress track's models are tiny and train on the CPU; drop --device")
        from obliviate.regress.bench import plan

        return plan(task, forget, methods, seeds, hparams)

    def run_bench(self, plan, store, *, show_progress=True, console=None, record_rows=True):
        from obliviate.regress.bench import run

        return run(plan, store, show_progress=show_progress, console=console, record_rows=record_rows)

    def table_cells(self, rows):
        from obliviate.regress.bench import table_cells

        return table_cells(rows)

    def legend(self, rows) -> str:
        return ("RMSE in the target's units (lower fits better; on the forget set the target is the retrained "
                "model's); MIA-eff: share of the forget set a loss-based attack calls non-member; gap: mean |RMSE − "
                "retrained RMSE| over forget, retain and test (lower is better)")


TRACK = RegressionTrack()
