from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "apps.kyc"
    label = "kyc"
    verbose_name = "KYC onboarding"

    def ready(self) -> None:
        from apps.kyc import checks  # noqa: F401
