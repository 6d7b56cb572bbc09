"""Acting on duplicates: the plan, file operations (and the trash), the journal, apply / resume / undo."""
