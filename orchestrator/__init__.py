"""Decide what runs where (Ray Tune) and record it (MLflow)."""
