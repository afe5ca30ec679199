"""Application assignments move to the saml context (the directory knows no applications).

State only: the table and its rows are taken over by saml/0003, which copies them.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("directory", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Assignment")],
            database_operations=[],
        )
    ]
