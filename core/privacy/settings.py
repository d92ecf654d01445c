"""`[privacy]` and `[privacy.retention]`: what users accept, and how long their data is kept."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr

from core.policy import Section

Days = Annotated[int, Field(ge=0, le=36500)]
# At least an hour, so a result's buttons stay usable a while; at most 30 days.
Hours = Annotated[int, Field(ge=1, le=720)]
Version = Annotated[str, Field(pattern=r"^[\w.-]{1,32}$")]


class RetentionSettings(Section):
    """Days after which the daily purge removes data; 0 keeps it. `unkept_hours`: how long after a
    job finished its prompt, uploads and images stay when the account keeps no history
    (`/privacy keep off`)."""

    outputs_days: Days = 30
    uploads_days: Days = 30
    failed_job_details_days: Days = 90
    support_days: Days = 365
    unkept_hours: Hours = 24


class PrivacySettings(Section):
    min_age: Annotated[int, Field(ge=1, le=99)] = 13
    terms_version: Version = "2026-01"
    policy_version: Version = "2026-04-22"
    terms_url: str = "https://getimage2.com/terms"
    policy_url: str = "https://getimage2.com/privacy"
    contact: str = "support@getimage2.com"
    require_acceptance: bool = True
    # keys the hashes of identities that had the free trial; unset: generated once, kept in the database
    identity_hash_secret: SecretStr | None = None
    # one wallet, one person: identities of one platform an account may link (the terms forbid sharing)
    max_identities_per_platform: Annotated[int, Field(ge=1, le=100)] = 1
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
