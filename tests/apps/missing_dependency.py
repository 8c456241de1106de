"""An app module that imports a package that is not installed."""

import hypergraph_test_package_that_does_not_exist  # noqa: F401
