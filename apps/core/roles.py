# Role names are plain strings here: core sits below accounts, which defines the Role choices.
GRANTS = {
    "compliance": ["core.view_audit_trail"],
    "broker_operations": ["core.view_outboxmessage"],
}
