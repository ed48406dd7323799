"""WebSocket routes. apps.marketdata.ws_auth authenticates each connection (session or token);
the consumer refuses what it must, with a readable error."""

from django.urls import path

from apps.marketdata.consumers import MarketDataConsumer

websocket_urlpatterns: list = [
    path("ws/", MarketDataConsumer.as_asgi()),
]
