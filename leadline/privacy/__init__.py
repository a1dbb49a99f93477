"""Privacy: erasing a person everywhere the workspace holds them, with a receipt."""
