"""Operations: health and readiness checks and Prometheus metrics (below web, above audit)."""
