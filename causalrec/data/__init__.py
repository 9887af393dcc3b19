"""Data: the simulated shop (:mod:`.simulate`), its container, and the loaders (:mod:`.load`)."""
