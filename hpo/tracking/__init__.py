"""MLflow: store URLs, runs and their tags, the potential model flavour and its serving code."""
