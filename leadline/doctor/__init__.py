"""``leadline doctor``: checks of an installation, each ending ``ok``, ``warn`` or ``fail`` with
what to fix (docs/operations.md). The checks read; they never change anything."""
