"""Optuna studies, the trial objective, MLflow tracking, promotion and the CLI of pesweep."""

__version__ = "0.1.0"
