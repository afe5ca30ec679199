"""Django app configuration of the operations context: metrics count from the audit trail."""

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Health checks and metrics; subscribes the metric counters to the audit writer."""

    name = "sekisho.ops"
    label = "ops"

    def ready(self) -> None:
        """Count every committed audit record (the one place security events are counted)."""
        from sekisho.audit.writer import subscribe
        from sekisho.ops.metrics import count_audit_record

        subscribe(count_audit_record)
