"""The regression track: unlearning in deep regression models (Tarun et al., "Deep
Regression Unlearning", ICML 2023) on a bundled task, measured against retraining."""
