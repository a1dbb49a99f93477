"""One module per ad platform, each defining ``PLATFORM``, an instance of its
:class:`~leadline.conversions.platforms.base.Platform` (``registry.py`` finds them)."""
