"""What operators do, from the command line and the web admin alike: every action names its actor and
is written to the audit log."""
