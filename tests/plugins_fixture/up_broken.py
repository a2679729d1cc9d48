"""A plugin whose import fails, as one with a missing dependency does."""

raise RuntimeError("boom: up_broken cannot be imported")
