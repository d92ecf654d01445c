"""The privacy services, together: what command handlers, the CLI and the app's tasks use."""

from __future__ import annotations

from dataclasses import dataclass

from core.accounts import Accounts
from core.db.session import Database
from core.generation.jobs import WorkerControl
from core.generation.storage import Storage
from core.notifier import Notifier
from core.privacy.analytics import Analytics
from core.privacy.broadcast import Broadcasts
from core.privacy.consent import Consents
from core.privacy.erase import Eraser
from core.privacy.export import Exports
from core.privacy.identities import IdentityHasher
from core.privacy.linking import Linker
from core.privacy.retention import Retention
from core.privacy.settings import PrivacySettings
from core.privacy.unkept import Unkept
from core.privacy.vacuum import Vacuum


@dataclass
class Privacy:
    settings: PrivacySettings
    consents: Consents
    analytics: Analytics
    exports: Exports
    eraser: Eraser
    linker: Linker
    retention: Retention
    unkept: Unkept
    broadcasts: Broadcasts

    @classmethod
    def build(
        cls,
        settings: PrivacySettings,
        *,
        db: Database,
        accounts: Accounts,
        storage: Storage,
        notifier: Notifier,
        worker: WorkerControl,
        default_language: str,
    ) -> Privacy:
        identities = IdentityHasher(db, settings.identity_hash_secret)
        vacuum = Vacuum(db)
        return cls(
            settings=settings,
            consents=Consents(db, accounts, settings, identities),
            analytics=Analytics(db),
            exports=Exports(db, storage),
            eraser=Eraser(db, storage, worker, identities, vacuum),
            linker=Linker(db, identities, max_per_platform=settings.max_identities_per_platform),
            retention=Retention(db, storage, settings.retention),
            unkept=Unkept(db, storage, settings.retention, vacuum),
            broadcasts=Broadcasts(db, notifier, default_language),
        )
