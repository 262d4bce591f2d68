"""rdrf tests: a package, so helpers are imported as `tests.<module>` by tests and bench alike."""
