"""Tables of the orders app: order intake, validation, pre-trade risk, the order state machine."""
