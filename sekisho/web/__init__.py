"""HTTP glue shared by every context: middleware, error pages, template context."""
