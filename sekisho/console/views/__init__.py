"""Console pages, one module per area; each page decides and audits its access first."""
