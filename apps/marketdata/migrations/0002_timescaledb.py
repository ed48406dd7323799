"""Move the time series onto TimescaleDB when the database has the extension.

On plain PostgreSQL this changes nothing (the tables and the roll-up are already right).
With TimescaleDB: hypertables, compression and retention policies, continuous aggregates per
candle interval (apps.marketdata.storage.timescale_setup). MARKETDATA_TIMESCALE=off skips it.
"""

from django.conf import settings
from django.db import migrations


def forwards(apps, schema_editor):
    from apps.marketdata import storage

    if settings.MARKETDATA_TIMESCALE == "off":
        return
    state = storage.timescale_enable(schema_editor.connection)
    if state.installed:
        storage.timescale_setup(
            schema_editor.connection,
            models=(apps.get_model("marketdata", "TradeTick"), apps.get_model("marketdata", "QuoteTick")),
        )
    storage.reset_storage_mode()


class Migration(migrations.Migration):
    dependencies = [("marketdata", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
