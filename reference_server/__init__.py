"""The bundled reference server: every profile of SPEC.md, single-node or as a cluster."""
