"""The conformance suite: pytest checks of any server against SPEC.md, by requirement id."""
