"""What the kyc app grants each role.

Compliance reviews and decides, and alone sees documents, full tax ids and who opened what.
Broker operations and support see the status of applications (tax ids masked, no documents).
"""

from apps.accounts.choices import Role

GRANTS = {
    Role.COMPLIANCE: [
        "kyc.view_kycapplication",
        "kyc.review_kycapplication",
        "kyc.approve_kycapplication",
        "kyc.reject_kycapplication",
        "kyc.view_tax_id",
        "kyc.view_kycdocument",
        "kyc.change_kycdocument",
        "kyc.view_documentaccess",
        "kyc.view_screeningresult",
        "kyc.view_sanctionslist",
        "kyc.view_sanctionsentry",
        "kyc.view_accreditedinvestorstatus",
        "kyc.verify_accreditedinvestorstatus",
    ],
    Role.BROKER_OPERATIONS: [
        "kyc.view_kycapplication",
        "kyc.view_accreditedinvestorstatus",
    ],
    Role.RISK: [
        "kyc.view_kycapplication",
    ],
    Role.SUPPORT: [
        "kyc.view_kycapplication",
    ],
}
