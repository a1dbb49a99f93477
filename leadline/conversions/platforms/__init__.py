"""One module per ad platform, each an :class:`~leadline.conversions.platforms.base.Platform`;
``REGISTRY`` (in ``registry.py``) names them."""
