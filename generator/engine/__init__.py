"""The engine: section specs and discovery, the plan, fingerprints, the result store, files, config, input schemes."""
