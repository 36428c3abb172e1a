"""The conformance checks, one module per spec section; fixtures in `conftest.py`."""
