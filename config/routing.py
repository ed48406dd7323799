"""WebSocket routes. The consumer authenticates each connection itself (session or token)."""

websocket_urlpatterns: list = []
