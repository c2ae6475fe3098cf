"""Paper experiments and speed benchmarks; ``causal-envs bench NAME`` runs one."""
