"""The exact track: owns SISA ensembles, so that no approximate method is ever applied
to one (it would break the ensemble's exactness). SISA itself runs through the
classifier track's tasks and tables as the method ``sisa``."""

from __future__ import annotations

from typing import Any, ClassVar

from obliviate.core.track import Track


class ExactTrack(Track):
    name: ClassVar[str] = "exact"
    description: ClassVar[str] = ("exact unlearning: SISA ensembles, where deleting ids retrains only the shards "
                                  "that held them (method 'sisa' on the classifier tasks)")
    methods_module: ClassVar[str] = "obliviate.exact.methods"

    def owns_model(self, model: Any) -> bool:
        from obliviate.exact.sisa import SISAEnsemble

        return isinstance(model, SISAEnsemble)

    def deployment(self, spec: dict) -> Any:
        """A SISA ensemble on a classifier task (kind ``sisa``) for deletion requests."""
        if spec.get("kind") != "sisa":
            return None
        from obliviate.classify.track import own_images
        from obliviate.exact.deploy import SISADeployment

        spec = own_images(spec)
        unknown = sorted(set(spec) - {"kind", "task", "data_dir", "shards", "slices", "aggregate"})
        if unknown:
            raise ValueError(f"option(s) {', '.join(unknown)} do not apply to a SISA deployment")
        return SISADeployment(spec["task"], spec.get("data_dir"), int(spec.get("shards", 4)),
                              int(spec.get("slices", 1)), spec.get("aggregate", "softmax"))

    def unlearn(self, model, forget, retain, method, seed, hparams, *, progress=None, **options):
        raise ValueError("a SISA ensemble unlearns exactly with ensemble.unlearn(ids) (in place, retraining only "
                         "the shards that held them); obliviate.unlearn's approximate methods would break that")


TRACK = ExactTrack()
