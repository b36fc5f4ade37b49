"""Caravan: post-training data the way Tülu 3 makes it, handed to trainers."""

from caravan.errors import CaravanError

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("caravan")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["CaravanError", "__version__"]
