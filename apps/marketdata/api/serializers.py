from decimal import Decimal

from rest_framework import serializers

from apps.marketdata import snapshots
from apps.marketdata.choices import AlertCondition, CandleInterval, NotificationEvent
from apps.marketdata.models import Notification, PriceAlert, Watchlist

PRICE_FIELD = {"allow_null": True}


# --- Market data ----------------------------------------------------------------------------


class QuoteOutputSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    bid = serializers.CharField(**PRICE_FIELD)
    bid_size = serializers.CharField(**PRICE_FIELD)
    ask = serializers.CharField(**PRICE_FIELD)
    ask_size = serializers.CharField(**PRICE_FIELD)
    last = serializers.CharField(**PRICE_FIELD)
    last_size = serializers.CharField(**PRICE_FIELD)
    volume = serializers.CharField()
    open = serializers.CharField(**PRICE_FIELD)
    high = serializers.CharField(**PRICE_FIELD)
    low = serializers.CharField(**PRICE_FIELD)
    previous_close = serializers.CharField(**PRICE_FIELD)
    change = serializers.CharField(**PRICE_FIELD)
    change_percent = serializers.CharField(**PRICE_FIELD)
    trading_day = serializers.DateField(allow_null=True)
    timestamp = serializers.DateTimeField(allow_null=True)
    seq = serializers.IntegerField(help_text="Position in the quotes stream of this symbol.")


class DepthOutputSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    bids = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    asks = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    timestamp = serializers.DateTimeField(allow_null=True)
    seq = serializers.IntegerField()


class PrintOutputSerializer(serializers.Serializer):
    price = serializers.CharField()
    quantity = serializers.CharField()
    side = serializers.CharField(help_text="The aggressor's side.")
    timestamp = serializers.DateTimeField()
    trade_id = serializers.CharField()
    seq = serializers.IntegerField()


class PrintsInputSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=500, default=50)


class CandlesInputSerializer(serializers.Serializer):
    interval = serializers.ChoiceField(
        choices=CandleInterval.choices, default=CandleInterval.ONE_MINUTE
    )
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)


class CandleOutputSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    open = serializers.CharField()
    high = serializers.CharField()
    low = serializers.CharField()
    close = serializers.CharField()
    volume = serializers.CharField()


class MoversInputSerializer(serializers.Serializer):
    asset_class = serializers.CharField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class MoverOutputSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    name = serializers.CharField()
    asset_class = serializers.CharField()
    last = serializers.CharField(**PRICE_FIELD)
    change = serializers.CharField(**PRICE_FIELD)
    change_percent = serializers.CharField(**PRICE_FIELD)
    volume = serializers.CharField()


class MoversOutputSerializer(serializers.Serializer):
    asset_class = serializers.CharField(allow_null=True)
    trading_day = serializers.DateField(allow_null=True)
    gainers = MoverOutputSerializer(many=True)
    losers = MoverOutputSerializer(many=True)
    most_active = MoverOutputSerializer(many=True)


# --- Watchlists -----------------------------------------------------------------------------


class WatchlistCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60)
    symbols = serializers.ListField(
        child=serializers.CharField(max_length=16), required=False, default=list, max_length=200
    )


class WatchlistRenameInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60)


class WatchlistItemInputSerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=16)


class WatchlistOutputSerializer(serializers.ModelSerializer):
    items = serializers.SerializerMethodField()

    class Meta:
        model = Watchlist
        fields = ["id", "name", "created_at", "updated_at", "items"]
        read_only_fields = fields

    def get_items(self, watchlist: Watchlist) -> list[dict]:
        quotes = self.context.get("quotes", {})
        return [
            {
                "symbol": item.instrument.symbol,
                "name": item.instrument.name,
                "quote": quotes.get(item.instrument_id),
            }
            for item in watchlist.items.all()
        ]


# --- Alerts ---------------------------------------------------------------------------------


class PriceAlertCreateInputSerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=16)
    condition = serializers.ChoiceField(choices=AlertCondition.choices)
    threshold = serializers.DecimalField(max_digits=20, decimal_places=8, min_value=Decimal("0"))
    base_price = serializers.DecimalField(
        max_digits=20, decimal_places=8, required=False, allow_null=True
    )
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class PriceAlertOutputSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="instrument.symbol")
    threshold = serializers.SerializerMethodField()
    base_price = serializers.SerializerMethodField()
    triggered_price = serializers.SerializerMethodField()

    class Meta:
        model = PriceAlert
        fields = [
            "id",
            "symbol",
            "condition",
            "threshold",
            "base_price",
            "note",
            "status",
            "created_at",
            "triggered_at",
            "triggered_price",
            "triggered_trade_id",
            "cancelled_at",
        ]
        read_only_fields = fields

    def _price(self, alert: PriceAlert, value: Decimal | None) -> str | None:
        return snapshots.Formats(alert.instrument).p(value)

    def get_threshold(self, alert: PriceAlert) -> str:
        if alert.condition == AlertCondition.PERCENT_MOVE:
            return format(alert.threshold.normalize(), "f")
        return self._price(alert, alert.threshold)

    def get_base_price(self, alert: PriceAlert) -> str | None:
        return self._price(alert, alert.base_price)

    def get_triggered_price(self, alert: PriceAlert) -> str | None:
        return self._price(alert, alert.triggered_price)


class AlertListInputSerializer(serializers.Serializer):
    status = serializers.CharField(required=False)


# --- Notifications --------------------------------------------------------------------------


class NotificationOutputSerializer(serializers.ModelSerializer):
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "event",
            "subject",
            "body",
            "data",
            "in_app",
            "email",
            "emailed_at",
            "read",
            "read_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class NotificationListInputSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)


class PreferenceOutputSerializer(serializers.Serializer):
    event = serializers.ChoiceField(choices=NotificationEvent.choices)
    label = serializers.CharField()
    in_app = serializers.BooleanField()
    email = serializers.BooleanField()


class PreferenceInputSerializer(serializers.Serializer):
    event = serializers.ChoiceField(choices=NotificationEvent.choices)
    in_app = serializers.BooleanField(required=False)
    email = serializers.BooleanField(required=False)


class PreferencesUpdateInputSerializer(serializers.Serializer):
    preferences = PreferenceInputSerializer(many=True, allow_empty=False)
