"""obliviate: machine unlearning, measured against retraining.

    import obliviate
    result = obliviate.unlearn(model, forget, retain, method="rl", seed=0)
    scores = obliviate.evaluate(result.model, forget, retain, test, reference=retrained)
"""

from obliviate import metrics
from obliviate.api import methods, tasks, unlearn
from obliviate.core.results import MethodRefused, UnlearningWarning, UnlearnResult
from obliviate.evaluate import evaluate

__version__ = "0.1.0"
__all__ = ["unlearn", "evaluate", "methods", "tasks", "metrics", "UnlearnResult",
           "UnlearningWarning", "MethodRefused", "__version__"]
