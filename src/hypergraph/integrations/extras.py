"""Loading an optional integration's third-party package, or saying how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import HypergraphError


class MissingExtraError(HypergraphError, ImportError):
    """An optional feature was used without the package it needs.

    >>> str(MissingExtraError("rich", "progress", "The progress display")).splitlines()[-1]
    'How to fix: pip install "hypergraph[progress]" (or pip install rich).'
    """

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the '{package}' package, which is not installed.\n"
            f'How to fix: pip install "hypergraph[{extra}]" (or pip install {package}).'
        )
        self.package = package
        self.extra = extra


def require(module: str, package: str, extra: str, feature: str) -> ModuleType:
    """Import `module` (from the distribution `package`), or raise MissingExtraError.

    By name, so that `import hypergraph` and the modules that use an extra stay free of
    third-party imports until a user asks for the feature.
    """
    try:
        # The top-level package first: a submodule already in sys.modules would be
        # returned even when its package has been made unimportable.
        importlib.import_module(module.split(".")[0])
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(package, extra, feature) from exc
