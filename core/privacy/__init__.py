"""The privacy promises of the Privacy Policy, kept in the core: consent, export, erasure, retention."""
