"""Figure builders, HTML reports and UI launchers (optuna-dashboard, MLflow UI)."""
