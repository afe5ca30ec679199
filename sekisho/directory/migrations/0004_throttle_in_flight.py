# Attempts in flight on a throttle scope: argon2id runs outside the row lock.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0003_time_zones"),
    ]

    operations = [
        migrations.AddField(
            model_name="signinthrottle",
            name="in_flight",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="signinthrottle",
            name="in_flight_since",
            field=models.DateTimeField(null=True),
        ),
    ]
