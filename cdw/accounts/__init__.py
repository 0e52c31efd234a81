"""User accounts (a domain): creation and the changes an admin makes, each audited."""
