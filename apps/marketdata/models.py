"""Tables of the marketdata app: quotes, depth, trade ticks, candles, the WebSocket feed."""
