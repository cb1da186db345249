"""Single kernels built outside a model's pipeline (for library dispatch and tuning)."""
