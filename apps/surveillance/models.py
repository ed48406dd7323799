"""Tables of the surveillance app: detection rules, alerts, compliance cases."""
