"""Load a sanctions list in the OFAC SDN CSV layout, replacing the current one."""

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core import context
from apps.core.errors import ApplicationError
from apps.kyc import services


class Command(BaseCommand):
    help = (
        "Load FILE (OFAC SDN CSV: ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign, "
        "Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks) as the sanctions list. "
        "All or nothing; applications submitted afterwards are screened against it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of sdn.csv.")
        parser.add_argument("--by", default="", help="E-mail of the staff member loading it.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        actor = None
        if options["by"]:
            actor = get_user_model().objects.filter(email__iexact=options["by"]).first()
            if actor is None:
                raise CommandError(f"No user {options['by']}.")
        with context.bind(correlation_id=context.new_correlation_id(), actor=actor):
            try:
                loaded = services.sanctions_list_load(
                    data=path.read_bytes(), source_name=path.name, actor=actor
                )
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {loaded.entry_count} entries ({loaded.individual_count} individuals) "
                f"from {path.name}; sha256 {loaded.sha256[:16]}."
            )
        )
