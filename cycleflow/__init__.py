"""cycleflow: policy-as-code for the sales cycle."""

__version__ = "0.1.0"
